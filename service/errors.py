"""Errors a request can end in. Each maps to an HTTP status and the JSON shape
`{"error": {"code": ..., "message": ...}}` (see service/api/errors.py)."""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


def client_detail(exc: Exception) -> str:
    """What a client may be told of `exc`: the service's own message, else only the exception's kind
    (its text can name server paths; the log keeps it)."""
    return exc.message if isinstance(exc, ServiceError) else exc.__class__.__name__


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class RequestTimeout(ServiceError):
    status, code = 408, "request_timeout"


class ClientClosedRequest(ServiceError):
    """The client went away before its upload was read, or while its request waited for a core; nobody
    reads the answer. nginx's 499, so that logs and metrics tell it from the service's own errors."""

    status, code = 499, "client_closed_request"


class ImageTooLarge(ServiceError):
    status, code = 413, "image_too_large"


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class CorruptImage(ServiceError):
    status, code = 422, "corrupt_image"


class MissingImage(ServiceError):
    status, code = 422, "missing_image"


class InvalidSettings(ServiceError):
    status, code = 422, "invalid_settings"


class UnknownParameter(ServiceError):
    """A query parameter the route does not take: the code of the other query errors (FastAPI's)."""

    status, code = 422, "invalid_parameter"


class UnknownModel(ServiceError):
    status, code = 404, "unknown_model"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"


class NotReady(ServiceError):
    """Every one says when to ask again (Retry-After, as README and the OpenAPI document promise for a
    503): still warming up, a model file missing until the models are built, a measurement failed."""

    status, code = 503, "not_ready"

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message, field=field, headers={"Retry-After": "2"} | (headers or {}))
