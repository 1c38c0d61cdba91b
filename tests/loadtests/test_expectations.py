"""The answer checks on real service responses: a right body passes, a wrong one is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
from PIL import Image

from loadtests.expectations import (
    KNOWN_ANSWERS,
    Expected,
    answer_for,
    check_classify,
    check_detect,
    load_answers,
)


def _post(client: httpx.Client, path: str, image: Path, **params: str) -> dict:
    response = client.post(path, params=params, files={"image": (image.name, image.read_bytes())})
    assert response.status_code == 200, response.text
    return response.json()


def test_right_bodies_pass(client: httpx.Client, images: Path) -> None:
    for name in ("grace_hopper.bmp", "cat.bmp", "bird.bmp"):
        body = _post(client, "/classify", images / name)
        assert check_classify(body, KNOWN_ANSWERS[name]) is None
    for detector in ("short", "full"):
        body = _post(client, "/detect", images / "face.jpg", model=detector)
        assert check_detect(body, KNOWN_ANSWERS["face.jpg"], detector) is None


def test_wrong_label_and_face_count_are_named(client: httpx.Client, images: Path) -> None:
    hopper = _post(client, "/classify", images / "grace_hopper.bmp")
    assert check_classify(hopper, Expected("Egyptian cat")) == (
        "top-1 is 'military uniform', expected 'Egyptian cat'"
    )
    faces = _post(client, "/detect", images / "face.jpg", model="short")
    assert check_detect(faces, Expected(faces={"short": 3}), "blazeface_short") == (
        "2 face(s), expected 3 with the short detector"
    )


def test_malformed_bodies_fail_the_shape_checks(client: httpx.Client, images: Path) -> None:
    body = _post(client, "/detect", images / "grace_hopper.bmp")
    broken = copy.deepcopy(body)
    broken["faces"][0]["keypoints"].pop()
    assert check_detect(broken, None, "short") == "a face needs 6 keypoints"
    assert check_detect({"error": "x"}, None, "short") == "no faces list in the body"
    classified = _post(client, "/classify", images / "cat.bmp")
    classified["predictions"].reverse()
    assert check_classify(classified, None) == "predictions are not sorted by score"
    assert check_classify({"predictions": []}, None) == "no predictions in the body"


def test_wrong_types_are_named_not_raised(client: httpx.Client, images: Path) -> None:
    """A check that raised would leave the answer uncounted (locust records a locustfile exception
    instead of a failure of the request): every wrong value gets its reason."""
    body = _post(client, "/detect", images / "grace_hopper.bmp")
    for mutate, reason in (
        (lambda f: f.update(keypoints=None), "a face needs 6 keypoints"),
        (lambda f: f["box"].update(x_min=None), "malformed box "),
        (lambda f: f["box"].pop("y_max"), "malformed box "),
        (lambda f: f["box"].update(x_max="12"), "malformed box "),
        (lambda f: f.update(score=True), "malformed face "),
    ):
        broken = copy.deepcopy(body)
        mutate(broken["faces"][0])
        assert (check_detect(broken, None, "short") or "").startswith(reason), reason
    classified = _post(client, "/classify", images / "cat.bmp")
    classified["predictions"][0]["score"] = True
    assert (check_classify(classified, None) or "").startswith("malformed prediction ")


def test_answers_file_overrides_and_extends(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(
        json.dumps({"cat.bmp": {"label": "tabby, tabby cat"}, "mine.png": {"faces": {"full": 2}}})
    )
    answers = load_answers(path)
    assert answers["cat.bmp"] == Expected("tabby, tabby cat")
    assert answers["mine.png"].faces == {"full": 2}
    assert answers["bird.bmp"] == KNOWN_ANSWERS["bird.bmp"]


def test_a_known_picture_in_another_format_is_checked_against_its_answer(
    client: httpx.Client, images: Path, tmp_path: Path
) -> None:
    """grace_hopper.* (README): the PNG of grace_hopper.bmp gets its answer, not shape checks only."""
    png = tmp_path / "Grace_Hopper.png"
    Image.open(images / "grace_hopper.bmp").save(png)
    expected = answer_for(KNOWN_ANSWERS, png.name)
    assert expected == KNOWN_ANSWERS["grace_hopper.bmp"]
    body = _post(client, "/classify", png)
    assert check_classify(body, expected) is None
    wrong = copy.deepcopy(body)
    wrong["predictions"][0]["label"] = "Egyptian cat"
    assert check_classify(wrong, expected) == "top-1 is 'Egyptian cat', expected 'military uniform'"
    assert answer_for(KNOWN_ANSWERS, "someone_else.png") is None
    # an answer for the exact name wins over one for the same stem
    mine = {**KNOWN_ANSWERS, "grace_hopper.png": Expected("mortarboard")}
    assert answer_for(mine, "grace_hopper.png") == Expected("mortarboard")
