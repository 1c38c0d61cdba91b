"""web/src/engine.mjs, the frame that holds onnxruntime-web's sessions, driven through the page's own
modules in chromium."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import PageSession

# two runs of one model started together, as live mode's loop and Run both do on a model's first use
TWO_RUNS_AT_ONCE = """async () => {
    const { runInBrowser } = await import('/web/browser.mjs');
    const { manifest, picture } = window.mva.state;
    const job = { task: 'detect', model: 'blazeface_short', precision: 'fp32' };
    const config = { backend: 'wasm', simd: true, threads: 1 };
    const runs = await Promise.all([1, 2].map(() => runInBrowser(manifest, picture, job, config)));
    return runs.map((run) => ({ faces: run.result.faces.length, firstUse: run.timing.firstUse !== null }));
}"""


def test_a_model_asked_for_twice_at_once_is_loaded_once(session: PageSession, images: Path) -> None:
    """The second caller waits for the first one's session: one download, one session (a second one
    would hold its own copy of the model in the wasm heap for good), and one first use reported."""
    session.pick(images / "face.jpg")
    runs = session.page.evaluate(TWO_RUNS_AT_ONCE)
    assert sorted(runs, key=lambda r: not r["firstUse"]) == [
        {"faces": 2, "firstUse": True},
        {"faces": 2, "firstUse": False},
    ]
    downloads = [url for url in session.requests if url.endswith("/models/blazeface_short/fp32.onnx")]
    assert len(downloads) == 1, downloads
    assert session.console_errors == []
