"""The project's own exception tree. Callers never catch httpx or pydantic errors directly."""

from __future__ import annotations


class ReconcilerError(Exception):
    """An expected failure: the CLI prints its message on one line and exits 1."""


class ConfigError(ReconcilerError):
    """One or more problems in the configuration, each with its file, line and column."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PartialFailure(ReconcilerError):
    """A change that was carried out in part (some files failed to register): it counts as failed, but
    what depends on it still runs, for the part that succeeded (e.g. linking the items that arrived)."""


class PlanError(ReconcilerError):
    """The desired state cannot be reached (e.g. a declared integration that Encord lacks)."""


class EncordError(ReconcilerError):
    """Any failure talking to Encord (or the emulator). Carries the trace id for support requests."""

    def __init__(self, message: str, *, status: int | None = None, trace_id: str | None = None) -> None:
        self.status = status
        self.trace_id = trace_id
        suffix = f" (trace id {trace_id})" if trace_id else ""
        super().__init__(f"{message}{suffix}")


class EncordAuthError(EncordError):
    """401: the key is unknown, or the request was not signed correctly."""


class EncordPermissionError(EncordError):
    """403: no access, which is also how Encord reports an unknown folder or item."""


class EncordNotFoundError(EncordError):
    """404, or a v1 RESOURCE_NOT_FOUND_ERROR."""


class EncordInvalidArgumentError(EncordError):
    """400, or a v1 INVALID_ARGUMENTS_ERROR."""


class EncordRateLimitError(EncordError):
    """429 after every retry was spent."""


class EncordServerError(EncordError):
    """5xx or an unknown status after every retry was spent."""


class EncordTransportError(EncordError):
    """The connection failed or timed out after every retry was spent."""


class CredentialsError(ReconcilerError):
    """No usable key or token was found, or the key could not be read."""


class NoCredentialsError(CredentialsError):
    """No credential is given at all (as opposed to one that cannot be used): `validate` does not need one."""


class EncordAmbiguousError(EncordError):
    """A create failed in a way that leaves open whether it happened, and reading back could not settle it."""
