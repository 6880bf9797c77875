# A small image with the `reconciler` entry point:
#   docker build -t reconciler . && docker run --rm -v "$PWD:/work" -w /work reconciler plan encord
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels && useradd --create-home reconciler
USER reconciler
ENTRYPOINT ["reconciler"]
CMD ["--help"]
