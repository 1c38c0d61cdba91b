"""Optional API key (MVA_API_KEY): required on the inference and model routes when set. Compared in
constant time. Accepted as `X-API-Key: KEY` or `Authorization: Bearer KEY`."""

from __future__ import annotations

import hmac

from fastapi import Request

from service.api.headers import field
from service.errors import ServiceError


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


def presented_key(request: Request) -> str | None:
    key = field(request.headers, "x-api-key")
    if key is not None:
        return key
    scheme, _, token = (field(request.headers, "authorization") or "").partition(" ")
    token = token.lstrip(" ")  # RFC 9110 11.4: one or more spaces after the scheme
    return token if scheme.lower() == "bearer" and token else None


async def require_api_key(request: Request) -> None:
    expected = request.app.state.mva.settings.api_key
    if expected is None:
        return
    key = presented_key(request)
    # the header's own bytes (Starlette decodes header values as latin-1) against the key's UTF-8,
    # the bytes a client sends for a key that is not ASCII
    sent = None if key is None else key.encode("latin-1")
    if sent is None or not hmac.compare_digest(sent, expected.get_secret_value().encode()):
        raise Unauthorized(
            "a valid API key is required: send it as `X-API-Key: KEY` or `Authorization: Bearer KEY`",
            headers={"WWW-Authenticate": "Bearer"},
        )
