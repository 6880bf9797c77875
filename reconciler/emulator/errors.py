"""Errors raised by emulator handlers and turned into wire responses at the edge."""

from __future__ import annotations

from pydantic import ValidationError


class ApiError(Exception):
    """A v2 error: answered as `{"message": ...}` with this HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def payload_too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body exceeds the emulator's limit of {limit} bytes")


def request_timeout(seconds: float) -> ApiError:
    return ApiError(408, f"Request body not received within {seconds:g} s")


def too_deeply_nested() -> ApiError:
    # json.loads raises RecursionError (not ValueError) on very deep nesting; it must not become a 500.
    return ApiError(400, "Request JSON is nested too deeply")


def forbidden(message: str) -> ApiError:
    # The real service answers 403 for both "does not exist" and "not yours" (SDK docstrings).
    return ApiError(403, message)


# v1 envelope codes (encord/http/error_utils.py) with the status number the envelope carries.
RPC_STATUS = {
    "AUTHENTICATION_ERROR": 401,
    "AUTHORISATION_ERROR": 403,
    "RESOURCE_NOT_FOUND_ERROR": 404,
    "METHOD_NOT_ALLOWED_ERROR": 405,
    "INVALID_ARGUMENTS_ERROR": 400,
}


class RpcError(Exception):
    """A v1 error: answered as `{"status": N, "response": [CODE], "payload": ...}`."""

    def __init__(self, code: str, payload: str | None = None) -> None:
        super().__init__(payload or code)
        self.code = code
        self.payload = payload

    def envelope(self) -> dict[str, object]:
        return {"status": RPC_STATUS[self.code], "response": [self.code], "payload": self.payload}


SHOWN_ERRORS = 5


def validation_message(error: ValidationError, what: str, at: str = "") -> str:
    """`what` is invalid: up to five `at.field.path[3].name: message` lines, as one sentence."""
    shown = []
    for found in error.errors()[:SHOWN_ERRORS]:
        path = at + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in found["loc"])
        shown.append(f"{path.lstrip('.') or 'body'}: {found['msg']}")
    more = error.error_count() - len(shown)
    tail = f" (and {more} more)" if more > 0 else ""
    return f"Invalid {what}: " + "; ".join(shown) + tail
