"""Query string -> one pydantic model, validated in a single pydantic-core call, plus the OpenAPI
parameter list that documents it. FastAPI's own query-model support inspects each field's annotation
again on every request (~40 us here, more with cold caches after an inference); the routes of the hot
path parse their query here instead, and keep their documentation."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.errors import UnknownParameter

Q = TypeVar("Q", bound=BaseModel)


def parse_query(model: type[Q], request: Request) -> Q:
    """The last value of a repeated parameter wins, as with FastAPI's scalar parameters. A parameter the
    model does not take (the query models forbid extras, service/api/params.py) is refused before any
    invalid value, naming those the route takes: a misspelt name is the mistake to fix first."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        unknown = [str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden"]
        if unknown:
            message = _unknown_message(unknown, model, request.url.path)
            raise UnknownParameter(message, field=unknown[0][:NAME_SHOWN]) from exc
        raise RequestValidationError([error | {"loc": ("query", *error["loc"])} for error in errors]) from exc


# how much of an unknown name the answer repeats: a request line of tens of kB holds a name as long
NAME_SHOWN = 64


def _unknown_message(unknown: list[str], model: type[BaseModel], path: str) -> str:
    # the first name only: a query string of a thousand made-up names makes no thousand-name answer
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    known = sorted(model.model_fields, key=lambda name: name != "model")  # the model first, as the docs
    name = repr(unknown[0][:NAME_SHOWN]) + ("..." if len(unknown[0]) > NAME_SHOWN else "")
    what = "a query parameter with no name" if not unknown[0] else f"unknown query parameter {name}"
    return f"{what}{more}; {path} takes: {', '.join(known)}"


def openapi_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI `in: query` parameters for the model's fields, as FastAPI would write them."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        description = field_schema.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field_schema,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
