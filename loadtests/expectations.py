"""What a correct answer looks like: known answers for known pictures (keyed by file name), shape checks
for every answer. A check returns the reason a body is wrong, or None when it is right."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYPOINTS_PER_FACE = 6
BOX_CORNERS = ("x_min", "y_min", "x_max", "y_max")


@dataclass(frozen=True)
class Expected:
    """label: the top-1 class; faces: detector alias (short, full) -> number of faces."""

    label: str | None = None
    faces: Mapping[str, int] = field(default_factory=dict)


# Answers that hold for every engine, precision and SIMD setting (checked with the service on each).
# face.jpg's top-1 label is a low-confidence guess, and squat.bmp's face count differs by detector for a
# doubtful second face: neither is pinned.
KNOWN_ANSWERS: dict[str, Expected] = {
    "grace_hopper.jpg": Expected("military uniform", {"short": 1, "full": 1}),
    "grace_hopper.bmp": Expected("military uniform", {"short": 1, "full": 1}),
    "cat.bmp": Expected("Egyptian cat", {"short": 0, "full": 0}),
    "cat_720p.jpg": Expected("Egyptian cat", {"short": 0, "full": 0}),
    "cat_1080p.jpg": Expected("Egyptian cat", {"short": 0, "full": 0}),
    "bird.bmp": Expected("chickadee", {"short": 0, "full": 0}),
    "squat.bmp": Expected("dumbbell"),
    "face.jpg": Expected(None, {"short": 2, "full": 4}),
}


def load_answers(path: str | Path | None) -> dict[str, Expected]:
    """KNOWN_ANSWERS, with entries from a JSON file on top:
    {"my.jpg": {"label": "tabby, tabby cat", "faces": {"short": 0}}}."""
    answers = dict(KNOWN_ANSWERS)
    if path:
        for name, entry in json.loads(Path(path).read_text()).items():
            answers[name] = Expected(label=entry.get("label"), faces=dict(entry.get("faces", {})))
    return answers


def answer_for(answers: Mapping[str, Expected], name: str) -> Expected | None:
    """The answer for a file name, else for the same picture in another format (grace_hopper.png takes
    grace_hopper.bmp's): answers are keyed by name with its extension, pictures get re-encoded."""
    if name in answers:
        return answers[name]
    stem = Path(name).stem.casefold()
    return next((e for known, e in answers.items() if Path(known).stem.casefold() == stem), None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # JSON true is no number


def _is_score(value: Any) -> bool:
    return _is_number(value) and 0.0 <= value <= 1.0


def check_classify(body: Any, expected: Expected | None) -> str | None:
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or not predictions:
        return "no predictions in the body"
    for p in predictions:
        if not (isinstance(p, dict) and isinstance(p.get("label"), str) and _is_score(p.get("score"))):
            return f"malformed prediction {p!r}"
    scores = [p["score"] for p in predictions]
    if scores != sorted(scores, reverse=True):
        return "predictions are not sorted by score"
    if expected is not None and expected.label is not None and predictions[0]["label"] != expected.label:
        return f"top-1 is {predictions[0]['label']!r}, expected {expected.label!r}"
    return None


def _face_problem(face: Any) -> str | None:
    box = face.get("box") if isinstance(face, dict) else None
    if not isinstance(box, dict) or not _is_score(face.get("score")):
        return f"malformed face {face!r}"
    # a check names what is wrong: a comparison or len() that raised would not count the answer as a failure
    if not all(_is_number(box.get(corner)) for corner in BOX_CORNERS):
        return f"malformed box {box!r}"
    if not (box["x_min"] <= box["x_max"] and box["y_min"] <= box["y_max"]):
        return f"inverted box {box!r}"
    keypoints = face.get("keypoints")
    if not isinstance(keypoints, list) or len(keypoints) != KEYPOINTS_PER_FACE:
        return f"a face needs {KEYPOINTS_PER_FACE} keypoints"
    return None


def check_detect(body: Any, expected: Expected | None, detector: str) -> str | None:
    faces = body.get("faces") if isinstance(body, dict) else None
    if not isinstance(faces, list):
        return "no faces list in the body"
    for face in faces:
        if (problem := _face_problem(face)) is not None:
            return problem
    alias = detector.removeprefix("blazeface_")
    if expected is not None and alias in expected.faces and len(faces) != expected.faces[alias]:
        return f"{len(faces)} face(s), expected {expected.faces[alias]} with the {alias} detector"
    return None
