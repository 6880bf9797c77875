# A small image whose entry point is `reconciler`. Build it, then run it as yourself on your checkout, so
# that what it writes there (.reconciler/, plans, reports) is yours:
#   docker build -t reconciler .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" reconciler plan encord
# Without --user it runs as UID:GID 1000:1000 (--build-arg UID=... --build-arg GID=... to change that),
# never as root. HOME is /tmp, writable by any UID. The Python image is pinned to an exact release; the
# dependencies are resolved once, in the build stage, into wheels that the final stage installs offline.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY reconciler ./reconciler
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG UID=1000
ARG GID=1000
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels reconciler-encord \
 && groupadd --non-unique --gid "${GID}" reconciler \
 && useradd --non-unique --uid "${UID}" --gid "${GID}" --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin reconciler \
 && install -d -o "${UID}" -g "${GID}" /work
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /work
USER ${UID}:${GID}
ENTRYPOINT ["reconciler"]
CMD ["--help"]
