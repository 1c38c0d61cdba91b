"""web/src/upload.mjs in chromium: "JPEG shrunk in the browser" sends the server a small JPEG at the
smallest size that keeps the model input whole (the same size rule as the server's DCT scaling), and
the answer is the same as for the original: the label, and the faces once put back in the original's
pixels."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.browserbench.report import summarize
from service.imaging.preprocess import min_source_size
from service.manifest import Manifest
from tests.browser.conftest import RUN_TIMEOUT_MS, PageSession
from tests.reference import box_iou

SIZES = [(1920, 1080), (1080, 1920), (512, 600), (300, 200), (100, 100), (4000, 10), (10, 4000), (257, 129)]


def test_the_size_rule_is_the_servers(session: PageSession, manifest: Manifest) -> None:
    for name, spec in manifest.models.items():
        found = session.page.evaluate(
            """async ([input, sizes]) => {
                const { minSourceSize } = await import('/web/upload.mjs');
                return sizes.map(([w, h]) => minSourceSize(input, w, h));
            }""",
            [spec.input.model_dump(), SIZES],
        )
        assert [tuple(s) for s in found] == [min_source_size(spec.input, w, h) for w, h in SIZES], name


def test_a_shrunk_upload_classifies_the_same(session: PageSession, images: Path, manifest: Manifest) -> None:
    session.pick(images / "cat_1080p.jpg")
    last = session.run(task="classify", precision="int8", upload="shrunk")
    server = last["server"]
    shrunk = min_source_size(manifest.get("mobilenet_v2").input, 1920, 1080)  # 456x256
    assert (server["payload"]["image"]["width"], server["payload"]["image"]["height"]) == shrunk
    assert server["payload"]["image"]["format"] == "JPEG"
    timing = server["timing"]
    assert timing["upload"] == "shrunk" and timing["shrinkMs"] > 0
    assert timing["uploadBytes"] < (images / "cat_1080p.jpg").stat().st_size / 4
    assert timing["totalMs"] == pytest.approx(timing["shrinkMs"] + timing["roundTripMs"])
    browser_top = last["browser"]["result"]["predictions"][0]["label"]
    assert browser_top == server["payload"]["predictions"][0]["label"] == "Egyptian cat"
    assert session.console_errors == []


@pytest.mark.parametrize(("detector", "faces"), [("blazeface_short", 2), ("blazeface_full", 4)])
def test_a_shrunk_upload_finds_the_same_faces_in_the_original(
    session: PageSession, images: Path, detector: str, faces: int
) -> None:
    session.pick(images / "face.jpg")
    last = session.run(task="detect", detector=detector, upload="shrunk")
    browser_faces = last["browser"]["result"]["faces"]
    server_faces = last["server"]["payload"]["faces"]
    assert len(browser_faces) == len(server_faces) == faces
    for face in server_faces:  # put back in the original's pixels by the page
        assert max(box_iou(face["box"], other["box"]) for other in browser_faces) > 0.8, face
    assert session.console_errors == []


def test_the_page_benchmark_puts_both_uploads_side_by_side(session: PageSession, images: Path) -> None:
    """The page's benchmark (what `bench-browser` reads): every server configuration with the picture as
    picked, then the first one again with it shrunk, each iteration shrinking anew."""
    session.pick(images / "grace_hopper.bmp")
    session.page.select_option("#task", "classify")
    session.page.fill("#iterations", "2")
    session.page.click("#bench")
    session.page.wait_for_selector(
        "body[data-state=bench-done], body[data-state=error]", timeout=RUN_TIMEOUT_MS
    )
    assert session.page.evaluate("window.mva.errors") == []
    rows = session.page.evaluate("window.mva.bench.rows")
    server = [r for r in rows if r["side"] == "server"]
    assert [r["upload"] for r in server] == ["original"] * (len(server) - 1) + ["shrunk"]
    original, shrunk = server[0], server[-1]
    assert original["config"] == shrunk["config"] and shrunk["label"].endswith(", shrunk upload")
    assert all(s["uploadBytes"] == (images / "grace_hopper.bmp").stat().st_size for s in original["samples"])
    assert all(s["uploadBytes"] < 40_000 and s["shrinkMs"] > 0 for s in shrunk["samples"])
    summary = summarize(session.page.evaluate("window.mva.bench") | {"job": {"name": "mobilenet_v2 int8"}})
    assert summary["shrunk_upload_bytes"] < summary["api_upload_bytes"] / 20
    assert session.console_errors == []
