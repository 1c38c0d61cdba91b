"""/classify through a real uvicorn server on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import PROJECT_ROOT
from service.timing import STAGES
from tests.conftest import LiveServer, server_timing


def test_multipart_upload(client: httpx.Client, images: Path) -> None:
    response = client.post(
        "/classify", files={"image": ("g.bmp", (images / "grace_hopper.bmp").read_bytes())}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"][0]["label"] == "military uniform"
    assert len(body["predictions"]) == 5
    assert body["model"] == "mobilenet_v2"
    assert body["image"] == {
        "width": 512,
        "height": 600,
        "format": "BMP",
        "decoded_width": 512,
        "decoded_height": 600,
    }


def _readme_answer() -> dict[str, Any]:
    """The README's "A classification answer (abridged)", its `...` (more predictions) left out."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"^A classification answer \(abridged\):\n\n```json\n(.*?)^```", readme, re.M | re.S)
    assert block
    return dict(json.loads(block.group(1).replace(", ...]", "]")))


def test_the_readmes_answer_has_the_fields_the_service_answers(client: httpx.Client, images: Path) -> None:
    """The README's example is grace_hopper.bmp at the defaults: a reader writes a client from its fields."""
    documented = _readme_answer()
    body = client.post("/classify", files={"image": (images / "grace_hopper.bmp").read_bytes()}).json()
    assert list(documented) == list(body)
    assert set(documented["settings"]) == set(body["settings"])
    assert documented["image"] == body["image"]
    assert documented["predictions"][0] == body["predictions"][0]
    assert list(documented["timing"]) == list(body["timing"])


@pytest.mark.parametrize(("image", "label"), [("cat.bmp", "Egyptian cat"), ("bird.bmp", "chickadee")])
def test_raw_body_upload(client: httpx.Client, images: Path, image: str, label: str) -> None:
    response = client.post(
        "/classify",
        content=(images / image).read_bytes(),
        headers={"content-type": "image/bmp"},
        params={"top_k": 1},
    )
    assert response.status_code == 200
    assert [p["label"] for p in response.json()["predictions"]] == [label]


def test_timing_in_body_and_server_timing_header(client: httpx.Client, images: Path) -> None:
    response = client.post("/classify", files={"image": (images / "cat_1080p.jpg").read_bytes()})
    timing = response.json()["timing"]
    assert set(timing) == {*STAGES, "total"}
    assert timing["inference"] > 0 and timing["decode"] > 0
    assert timing["total"] >= timing["inference"] + timing["decode"] + timing["preprocess"]
    assert server_timing(response) == timing
    # a 1920x1080 JPEG is decoded at a reduced DCT scale, never below what the crop needs
    image = response.json()["image"]
    assert (image["width"], image["height"]) == (1920, 1080)
    assert 256 <= image["decoded_height"] < 1080


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"engine": "onnxruntime", "precision": "int8", "kernels": "mlas", "simd": True, "threads": 1}),
        ({"precision": "fp32"}, {"engine": "onnxruntime", "precision": "fp32", "kernels": "mlas"}),
        ({"engine": "litert"}, {"engine": "litert", "kernels": "xnnpack", "simd": True}),
        ({"engine": "litert", "kernels": "builtin"}, {"engine": "litert", "kernels": "builtin"}),
        ({"engine": "litert", "simd": "off"}, {"engine": "litert", "kernels": "reference", "simd": False}),
        ({"preset": "scalar"}, {"engine": "litert", "kernels": "reference", "simd": False, "threads": 1}),
        ({"preset": "simd"}, {"engine": "litert", "kernels": "xnnpack", "threads": 1}),
        # explicit parameters override the preset (README, Settings), simd both ways
        ({"preset": "scalar", "simd": "on"}, {"engine": "litert", "kernels": "xnnpack", "simd": True}),
        ({"preset": "simd", "simd": "off"}, {"engine": "litert", "kernels": "reference", "simd": False}),
    ],
)
def test_settings_that_ran_are_reported(
    client: httpx.Client, images: Path, params: dict[str, str], expected: dict[str, object]
) -> None:
    response = client.post(
        "/classify", params=params, files={"image": (images / "grace_hopper.bmp").read_bytes()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"][0]["label"] == "military uniform"
    assert expected.items() <= body["settings"].items()


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"simd": "off"}, "simd", "invalid_settings"),
        ({"threads": "99"}, "threads", "invalid_settings"),  # above the cores given to inference
        # below 1 or not an integer: the query's validation, as top_k=0 (threads=0 was invalid_settings)
        ({"threads": "0"}, "threads", "invalid_parameter"),
        ({"threads": "1.5"}, "threads", "invalid_parameter"),
        ({"threads": "two"}, "threads", "invalid_parameter"),
        ({"engine": "tensorflow"}, "engine", "invalid_parameter"),
        ({"precision": "int4"}, "precision", "invalid_parameter"),
        ({"engine": "litert", "precision": "fp32"}, "precision", "invalid_settings"),  # the int8 tflite
        ({"kernels": "reference"}, "kernels", "invalid_settings"),
        ({"preset": "gpu"}, "preset", "invalid_parameter"),
        ({"top_k": "0"}, "top_k", "invalid_parameter"),
    ],
)
def test_invalid_settings_get_422_naming_the_field(
    client: httpx.Client, images: Path, params: dict[str, str], field: str, code: str
) -> None:
    """A value the query cannot take (not of its type or choices, out of its range) is an
    `invalid_parameter`; settings that do not go together, or that this server or model cannot run, are
    `invalid_settings` (threads above the cores given to inference)."""
    response = client.post("/classify", params=params, files={"image": (images / "cat.bmp").read_bytes()})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert field in error["message"]


def test_onnxruntime_simd_off_points_to_litert(client: httpx.Client, images: Path) -> None:
    response = client.post("/classify?simd=off", files={"image": (images / "cat.bmp").read_bytes()})
    message = response.json()["error"]["message"]
    assert "onnxruntime" in message and "engine=litert" in message


def test_a_conflict_a_preset_made_says_so(client: httpx.Client, images: Path) -> None:
    """preset=scalar&engine=onnxruntime was refused with advice to use engine=litert "(or preset=scalar)",
    which it had, and no word of where simd=off came from; a conflict the request spelled out has none."""
    for params, from_preset in [
        ({"preset": "scalar", "engine": "onnxruntime"}, True),
        ({"simd": "off"}, False),
    ]:
        response = client.post("/classify", params=params, files={"image": (images / "cat.bmp").read_bytes()})
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["field"]) == (422, "invalid_settings", "simd")
        assert error["message"].startswith("simd: onnxruntime cannot switch SIMD off"), error["message"]
        assert error["message"].endswith(" (simd=off came from preset=scalar)") == from_preset, error[
            "message"
        ]


def test_threads_are_bounded_by_the_inference_cores(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    """MVA_INFERENCE_CORES=1: the core budget holds one thread, so 2 are refused, "all cores" (the
    simd-threads preset) means 1, and /v1/models says so."""
    server = start_server(inference_cores="1", warm_models='["mobilenet_v2"]')
    data = (images / "grace_hopper.bmp").read_bytes()
    with server.client() as client:
        refused = client.post("/classify", params={"threads": 2}, files={"image": data})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_settings", "threads")
        assert "MVA_INFERENCE_CORES" in error["message"]
        ran = client.post("/classify", params={"preset": "simd-threads"}, files={"image": data})
        assert ran.status_code == 200 and ran.json()["settings"]["threads"] == 1
        assert client.get("/v1/models").json()["settings"]["threads"]["max"] == 1


def test_the_settings_change_what_runs_not_only_what_is_reported(client: httpx.Client, images: Path) -> None:
    """Through the API, not only in the `settings` the answer reports: the int8 model's softmax comes in
    steps of 1/256 and the fp32 model's does not; LiteRT's scalar reference kernels round otherwise than
    XNNPACK (tests/engines/ checks the same on the runners themselves)."""
    data = (images / "grace_hopper.bmp").read_bytes()

    def scores(**params: str) -> list[float]:
        response = client.post("/classify", params=params, files={"image": data})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["label"] == "military uniform"
        return [p["score"] for p in response.json()["predictions"]]

    def on_the_int8_grid(values: list[float]) -> bool:
        return all(v * 256 == round(v * 256) for v in values)

    assert on_the_int8_grid(scores())
    assert not on_the_int8_grid(scores(precision="fp32"))
    xnnpack, reference = scores(engine="litert"), scores(engine="litert", simd="off")
    assert on_the_int8_grid(xnnpack) and on_the_int8_grid(reference)
    assert xnnpack != reference


def _named(media_type: str, ranges: list[str]) -> bool:
    return any(r == media_type or (r.endswith("/*") and media_type.startswith(r[:-1])) for r in ranges)


@pytest.mark.parametrize("content_type", ["image/bmp", "application/octet-stream"])
def test_every_raw_body_type_the_routes_take_is_in_the_openapi_document(
    client: httpx.Client, images: Path, content_type: str
) -> None:
    """A client generated from the document, or Swagger UI's "Try it out", can send what the server
    takes: a BMP as itself, an untyped body."""
    data = (images / "cat.bmp").read_bytes()
    document = client.get("/openapi.json").json()
    for route in ("/classify", "/detect"):
        assert client.post(route, content=data, headers={"content-type": content_type}).status_code == 200
        accepted = list(document["paths"][route]["post"]["requestBody"]["content"])
        assert _named(content_type, accepted), (route, accepted)
