"""The OpenAPI document says what the service really answers: every error has the JSON shape
`ErrorResponse` (FastAPI would document its own validation-error shape for 422), routes with path
parameters can answer 404, protected routes 401, and, when the server has an API key, declare the two
ways to send it (Swagger UI's "Authorize" then sends it)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.schemas import ErrorResponse

_REF = {"$ref": "#/components/schemas/ErrorResponse"}
# service/api/security.py accepts either
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}


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
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
