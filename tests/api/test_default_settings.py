"""The server's request defaults (MVA_PRECISION, MVA_ENGINE with MVA_SIMD, MVA_RUNNER_CACHE_SIZE) change
what runs, shown by what comes out, not only by the settings the answer reports: the int8 model's
softmax comes in steps of 1/256 and the fp32 model's does not, and LiteRT's scalar reference kernels
round otherwise than XNNPACK."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import LiveServer

WARM = '["mobilenet_v2"]'


def classify(client: httpx.Client, picture: bytes, **params: str) -> dict:
    response = client.post("/classify", params=params, files={"image": picture})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"][0]["label"] == "military uniform"
    return answer


def on_the_int8_grid(answer: dict) -> bool:
    return all(p["score"] * 256 == round(p["score"] * 256) for p in answer["predictions"])


def test_mva_precision_fp32_runs_the_fp32_model(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    picture = (images / "grace_hopper.bmp").read_bytes()
    with start_server(precision="fp32", warm_models=WARM).client() as client:
        default = classify(client, picture)
        asked_int8 = classify(client, picture, precision="int8")
    assert default["settings"]["precision"] == "fp32" and default["settings"]["artifact"].endswith(
        "/fp32.onnx"
    )
    assert not on_the_int8_grid(default)
    assert asked_int8["settings"]["precision"] == "int8" and on_the_int8_grid(asked_int8)


def test_mva_engine_litert_with_simd_off_runs_the_reference_kernels(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    picture = (images / "grace_hopper.bmp").read_bytes()
    with start_server(engine="litert", simd="off", warm_models=WARM).client() as client:
        default = classify(client, picture)
        asked_simd = classify(client, picture, simd="on")
        models = client.get("/v1/models").json()
    assert (default["settings"]["kernels"], default["settings"]["simd"]) == ("reference", False)
    assert (asked_simd["settings"]["kernels"], asked_simd["settings"]["simd"]) == ("xnnpack", True)
    # the same tflite through two kernel sets: both quantized, not the same scores
    assert on_the_int8_grid(default) and on_the_int8_grid(asked_simd)
    assert [p["score"] for p in default["predictions"]] != [p["score"] for p in asked_simd["predictions"]]
    assert models["settings"]["defaults"]["kernels"] in (None, "reference")
    assert {r["kernels"] for r in models["runners"]} == {"reference", "xnnpack"}


def test_mva_runner_cache_size_bounds_the_runners_kept(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    picture = (images / "grace_hopper.bmp").read_bytes()
    with start_server(runner_cache_size="1", warm_models=WARM).client() as client:

        def runners() -> list[tuple[str, str]]:
            return [(r["model"], r["precision"]) for r in client.get("/v1/models").json()["runners"]]

        assert runners() == [("mobilenet_v2", "int8")]
        assert not on_the_int8_grid(classify(client, picture, precision="fp32"))
        assert runners() == [("mobilenet_v2", "fp32")]  # the int8 runner made room
        assert on_the_int8_grid(classify(client, picture))  # and is built again when asked for
        assert runners() == [("mobilenet_v2", "int8")]


def test_mva_precision_gives_way_where_a_model_or_engine_has_no_such_variant(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    """MVA_PRECISION is the default of every model: BlazeFace has no int8 and LiteRT runs the tflite's
    own. Such a model or engine runs its own precision (the server became ready, warming BlazeFace
    with MVA_PRECISION=int8); a precision the request names itself must still exist."""
    face = (images / "face.jpg").read_bytes()
    picture = (images / "grace_hopper.bmp").read_bytes()
    warm = '["mobilenet_v2", "blazeface_short"]'
    with start_server(precision="int8", warm_models=warm).client() as client:
        detected = client.post("/detect", files={"image": face})
        assert detected.status_code == 200, detected.text
        assert detected.json()["settings"]["precision"] == "fp32" and len(detected.json()["faces"]) == 2
        assert classify(client, picture)["settings"]["precision"] == "int8"
        asked = client.post("/detect", params={"precision": "int8"}, files={"image": face})
        assert (asked.status_code, asked.json()["error"]["field"]) == (422, "precision")
    with start_server(precision="fp32", warm_models=WARM).client() as client:
        simd = classify(client, picture, preset="simd")
        assert (simd["settings"]["engine"], simd["settings"]["precision"]) == ("litert", "int8")
        assert on_the_int8_grid(simd)
        asked = client.post(
            "/classify", params={"engine": "litert", "precision": "fp32"}, files={"image": picture}
        )
        assert asked.status_code == 422
        error = asked.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_settings", "precision")
