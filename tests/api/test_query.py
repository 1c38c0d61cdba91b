"""Query string -> one validated model, and the OpenAPI parameters that document it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from service.api.query import openapi_parameters, parse_query
from service.api.routes.classify import ClassifyQuery
from service.api.routes.detect import DetectQuery
from service.errors import UnknownParameter


def request_with(query: bytes) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "query_string": query, "headers": []})


def test_strings_become_typed_values_and_defaults_fill_the_rest() -> None:
    query = parse_query(ClassifyQuery, request_with(b"top_k=3&simd=off&threads=2&engine=litert"))
    assert (query.top_k, query.simd, query.threads, query.engine) == (3, False, 2, "litert")
    assert (query.model, query.precision, query.preset) == ("mobilenet_v2", None, None)


def test_the_last_of_a_repeated_parameter_wins() -> None:
    query = parse_query(DetectQuery, request_with(b"max_faces=1&max_faces=4"))
    assert query.max_faces == 4
    assert query.model == "short"


def test_an_unknown_parameter_is_refused_before_an_invalid_value() -> None:
    """A misspelt name is the mistake to fix first; the message names the first unknown one only."""
    with pytest.raises(UnknownParameter) as caught:
        parse_query(DetectQuery, request_with(b"max_faces=0&colour=red&size=9"))
    assert caught.value.field == "colour"
    assert caught.value.message.startswith("unknown query parameter 'colour' (and 1 more); / takes: model, ")


def test_a_parameter_with_no_name_is_refused_and_said_so() -> None:
    with pytest.raises(UnknownParameter) as caught:
        parse_query(DetectQuery, request_with(b"=1"))
    assert caught.value.field == ""  # the answer's `field` (service/api/errors.py keeps an empty one)
    assert caught.value.message.startswith("a query parameter with no name; / takes: model, ")


def test_an_unknown_parameter_of_any_length_makes_a_short_answer() -> None:
    with pytest.raises(UnknownParameter) as caught:
        parse_query(DetectQuery, request_with(b"x" * 20_000 + b"=1"))
    assert caught.value.field == "x" * 64
    assert caught.value.message.startswith("unknown query parameter '" + "x" * 64 + "'...; / takes: model, ")
    assert len(caught.value.message) < 300


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


CLASSIFY_TAKES = "model, engine, precision, simd, threads, kernels, preset, top_k"


@pytest.mark.parametrize(
    ("path", "query", "name", "takes"),
    [
        ("/classify", "topk=3", "topk", CLASSIFY_TAKES),
        (
            "/detect",
            "top_k=3",
            "top_k",
            "model, engine, precision, simd, threads, kernels, preset, min_score",
        ),
        # the unknown name is checked before the values, whichever comes first: not top_k's 422
        ("/classify", "topk=3&top_k=0", "topk", CLASSIFY_TAKES),
        ("/classify", "top_k=0&topk=3", "topk", CLASSIFY_TAKES),
    ],
)
def test_a_route_refuses_a_parameter_it_does_not_take_and_serves_on(
    client: httpx.Client, images: Path, path: str, query: str, name: str, takes: str
) -> None:
    """`/classify?topk=3` answered 200 with the default 5 predictions: the typo went unnoticed."""
    image = {"image": (images / "face.jpg").read_bytes()}
    response = client.post(f"{path}?{query}", files=image)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_parameter", name)
    assert error["message"].startswith(f"unknown query parameter {name!r}; {path} takes: {takes}")
    assert client.post(path, files=image).status_code == 200


def test_a_repeated_parameter_is_still_taken_its_last_value_winning(
    client: httpx.Client, images: Path
) -> None:
    image = {"image": (images / "grace_hopper.bmp").read_bytes()}
    response = client.post("/classify?top_k=1&top_k=3", files=image)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3


@pytest.mark.parametrize(
    "target",
    ["/healthz?probe=1", "/readyz?probe=1", "/v1/models?v=2", "/web/engine.html?backend=wasm&simd=1"],
)
def test_a_route_that_reads_no_query_ignores_one(client: httpx.Client, target: str, page_built: None) -> None:
    """Only the routes with a query model refuse unknown parameters: no parameter changes the others'
    answers, and the page's engine frame is /web/engine.html?backend=...&threads=..., read by its script."""
    assert client.get(target).status_code == 200
