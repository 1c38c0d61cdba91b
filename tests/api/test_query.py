"""Query string -> one validated model, and the OpenAPI parameters that document it."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from service.api.query import openapi_parameters, parse_query
from service.api.routes.classify import ClassifyQuery
from service.api.routes.detect import DetectQuery


def request_with(query: bytes) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "query_string": query, "headers": []})


def test_strings_become_typed_values_and_defaults_fill_the_rest() -> None:
    query = parse_query(ClassifyQuery, request_with(b"top_k=3&simd=off&threads=2&engine=litert"))
    assert (query.top_k, query.simd, query.threads, query.engine) == (3, False, 2, "litert")
    assert (query.model, query.precision, query.preset) == ("mobilenet_v2", None, None)


def test_the_last_of_a_repeated_parameter_wins_and_unknown_ones_are_ignored() -> None:
    query = parse_query(DetectQuery, request_with(b"max_faces=1&max_faces=4&colour=red"))
    assert query.max_faces == 4
    assert query.model == "short"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (b"top_k=0", "top_k"),
        (b"top_k=many", "top_k"),
        (b"engine=tensorrt", "engine"),
        (b"simd=maybe", "simd"),
    ],
)
def test_invalid_values_raise_a_validation_error_located_in_the_query(query: bytes, field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_query(ClassifyQuery, request_with(query))
    assert caught.value.errors()[0]["loc"] == ("query", field)


def test_openapi_parameters_document_every_field_with_its_constraints() -> None:
    parameters = {p["name"]: p for p in openapi_parameters(ClassifyQuery)}
    assert set(parameters) == set(ClassifyQuery.model_fields)
    assert all(p["in"] == "query" and p["required"] is False for p in parameters.values())
    top_k = parameters["top_k"]["schema"]
    assert (top_k["minimum"], top_k["maximum"], top_k["default"]) == (1, 1000, 5)
    assert parameters["top_k"]["description"] == "how many labels"
    assert parameters["engine"]["schema"]["anyOf"][0]["enum"] == ["onnxruntime", "litert"]
