"""The OpenAPI document says what the service really answers: every error has the JSON shape
`ErrorResponse` (FastAPI would document its own validation-error shape for 422), routes with path
parameters can answer 404, protected routes 401, and, when the server has an API key, declare the two
ways to send it (Swagger UI's "Authorize" then sends it). The headers every answer carries, and a
503's Retry-After, are declared here once for every route; a route declares its own (SERVER_TIMING,
X_FACES) in its `responses`, and a route whose 200 has SERVER_TIMING has it on its errors too, but
the ones answered before an inference's timer starts (UNTIMED)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.middleware import SERVED_BY
from service.api.schemas import ErrorResponse

_REF = {"$ref": "#/components/schemas/ErrorResponse"}
# service/api/security.py accepts either
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


# service/api/middleware.py adds them to every answer
EVERY_ANSWER = {
    "X-Request-ID": _header(
        "the caller's X-Request-ID when it is a plain token of at most 64 characters, else a new one"
    ),
    # in the case the document spells header names in: "X-Served-By"
    SERVED_BY.decode().title(): _header("the replica that answered (MVA_REPLICA)"),
}
RETRY_AFTER = {"Retry-After": _header("seconds to wait before trying again")}
SERVER_TIMING = {
    "Server-Timing": _header(
        "each stage the request went through and `total`, in ms (`receive;dur=0.41, decode;dur=1.2, ...`); "
        "on an error too, from the settings check on (a 422 `invalid_settings`: settings the engine cannot "
        "run; a 503 `not_ready` for a model file found missing then, or a preset=auto that found nothing to "
        "run): not on what is refused before it, a 422 `invalid_parameter` (a query value the validation "
        "refuses, a parameter the route does not take) or the 503 `not_ready` of a service not ready yet"
    )
}
# statuses a timed route answers before its timer starts (service/api/inference.py's infer()): the API
# key is checked before the route runs, the model's name before infer() is called
UNTIMED = {"401", "404"}
X_FACES = {"X-Faces": _header("the number of faces drawn, with an annotated picture only")}
# every response header the service sends, declared above: CORS lets a page read the same ones
RESPONSE_HEADERS = [*EVERY_ANSWER, *RETRY_AFTER, *SERVER_TIMING, *X_FACES]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _REF}}}


def install(app: FastAPI, protected_paths: set[str], *, api_key: bool) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if api_key:
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ErrorResponse"] = ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components.update(components["ErrorResponse"].pop("$defs", {}))
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = _error(responses["422"].get("description", "invalid parameter"))
                if "{" in path:
                    responses.setdefault("404", _error("unknown name in the path"))
                if path in protected_paths and api_key:
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                if path in protected_paths:
                    responses.setdefault(
                        "401", _error("API key missing or wrong (only when MVA_API_KEY is set)")
                    )
                # an inference's error answers carry the stages it went through (service/api/errors.py)
                ok_headers = responses.get("200", {}).get("headers", {})
                timed = SERVER_TIMING if SERVER_TIMING.keys() <= ok_headers.keys() else {}
                for status, response in responses.items():
                    headers = response.setdefault("headers", {})
                    timing = {} if status in UNTIMED else timed
                    headers.update(EVERY_ANSWER | timing | (RETRY_AFTER if status == "503" else {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
