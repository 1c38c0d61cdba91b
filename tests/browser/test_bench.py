"""web/src/bench.mjs through the page: every server configuration of the benchmark runs as its own
row, whatever the Server settings of a single run say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.conftest import RUN_TIMEOUT_MS, PageSession


def benchmark(
    session: PageSession, picture: Path, iterations: str = "1", **choices: str
) -> list[dict[str, Any]]:
    """Set the page's selects (id -> value), benchmark `picture` with `iterations` typed in its field
    (once per configuration by default), return its server rows."""
    session.pick(picture)
    for select, value in choices.items():
        session.page.select_option(f"#{select}", value)
    session.page.fill("#iterations", iterations)
    session.page.evaluate("document.body.dataset.state = 'busy'")
    session.page.click("#bench")
    session.page.wait_for_selector(
        "body[data-state=bench-done], body[data-state=error]", timeout=RUN_TIMEOUT_MS
    )
    assert session.page.evaluate("window.mva.errors") == [], session.page.text_content("#status")
    rows: list[dict[str, Any]] = session.page.evaluate("window.mva.bench.rows")
    return [row for row in rows if row["side"] == "server"]


def test_scalar_litert_chosen_for_a_run_does_not_reach_the_onnxruntime_rows(
    session: PageSession, images: Path
) -> None:
    """SIMD off is LiteRT's reference kernels; onnxruntime has no such switch and refuses it (422)."""
    rows = benchmark(session, images / "face.jpg", task="detect", engine="litert", **{"server-simd": "off"})
    engines = [(row["config"]["engine"], row["config"].get("simd")) for row in rows]
    assert engines == [
        ("onnxruntime", None),
        ("onnxruntime", None),
        ("litert", "on"),
        ("litert", "off"),
        ("onnxruntime", None),
    ]
    assert all(len(row["samples"]) == 1 for row in rows)
    assert session.console_errors == []


def test_fp32_runs_where_the_engine_has_it_and_the_litert_rows_say_they_ran_int8(
    session: PageSession, images: Path
) -> None:
    """MobileNetV2 on LiteRT is the tflite's own int8: asked for fp32 it answers 422, so its rows run
    int8, and say so beside the fp32 rows of onnxruntime."""
    rows = benchmark(session, images / "cat.bmp", task="classify", precision="fp32", engine="onnxruntime")
    labels = [row["label"] for row in rows]
    assert labels == [
        "server onnxruntime threads=1",
        "server onnxruntime threads=2",
        "server litert simd=on threads=1 (ran int8)",
        "server litert simd=off threads=1 (ran int8)",
        "server onnxruntime threads=1, shrunk upload",
    ]
    assert labels[2] in session.page.text_content("#bench-table")
    assert session.console_errors == []


def test_the_iterations_field_shows_the_count_that_runs(session: PageSession, images: Path) -> None:
    """A browser lets any number be typed in a number field, whatever its min (1) and max (200): the
    page holds it to that range as a whole number, writes that back into the field, and runs it."""
    page = session.page
    for typed, runs in [("500", "200"), ("2.5", "3"), ("-3", "1"), ("", "10")]:
        page.fill("#iterations", typed)
        page.press("#iterations", "Tab")  # the field's change event: it has lost the focus
        assert page.input_value("#iterations") == runs, typed
    # typed, then Benchmark pressed at once: the field changes as the click takes the focus
    rows = benchmark(session, images / "face.jpg", iterations="0", task="detect")
    assert page.input_value("#iterations") == "1"
    assert page.evaluate("window.mva.bench.iterations") == 1
    assert all(len(row["samples"]) == 1 for row in rows)
    assert session.console_errors == []


def test_the_chart_names_the_picture_and_settings_it_was_made_with(
    session: PageSession, images: Path
) -> None:
    """The chart stays when another picture is picked (to compare against): it said nothing of the
    picture or settings it was made with, and read as the new picture's. Its caption now says both."""
    benchmark(session, images / "face.jpg", task="detect", detector="blazeface_full", upload="shrunk")
    made_with = (
        "face.jpg (512\N{MULTIPLICATION SIGN}355, 70 KiB) · detect blazeface_full fp32"
        " · upload: JPEG shrunk in the browser · 1 iteration per configuration"
    )
    page = session.page
    assert page.get_attribute("#chart", "aria-label") == f"benchmark chart of {made_with}"
    assert page.text_content("#bench-of") == f"of {made_with}"
    session.pick(images / "cat.bmp")
    page.select_option("#task", "classify")
    assert page.locator("#chart text.label").count() == 9  # still standing, and still saying of what
    assert page.text_content("#bench-of") == f"of {made_with}"
    assert session.console_errors == []


def test_the_benchmark_keeps_the_browsers_decode_of_its_picture(session: PageSession, images: Path) -> None:
    """bench-browser reads window.mva.bench: the picture's decode in the browser (taken once, when it
    was picked) is beside its size there, as the server rows carry the server's decode."""
    benchmark(session, images / "face.jpg", task="detect")
    picture = session.page.evaluate("window.mva.bench.picture")
    assert picture["decodeMs"] > 0, picture
    assert picture["decodeMs"] == session.page.evaluate("window.mva.state.picture.decodeMs")
    assert (picture["width"], picture["height"]) == (512, 355)
    assert session.console_errors == []
