"""web/src/engine.mjs, the frame that holds onnxruntime-web's sessions, driven through the page's own
modules in chromium."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.conftest import PageSession
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

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


# in every frame: how many WebGL contexts its scripts have made (each new one counted once)
COUNT_WEBGL_CONTEXTS = """
window.webglContexts = 0;
const made = new WeakSet();
const getContext = HTMLCanvasElement.prototype.getContext;
HTMLCanvasElement.prototype.getContext = function (type, ...options) {
  const context = getContext.call(this, type, ...options);
  if (context && String(type).startsWith('webgl') && !made.has(context)) {
    made.add(context);
    window.webglContexts += 1;
  }
  return context;
};
"""
WEBGL_RUN = """async () => {
    const { runInBrowser } = await import('/web/browser.mjs');
    const { manifest, picture } = window.mva.state;
    const job = { task: 'detect', model: 'blazeface_short', precision: 'fp32' };
    const run = await runInBrowser(manifest, picture, job, { backend: 'webgl', simd: true, threads: 1 });
    return [run.result.faces.length, run.engine.webglRenderer];
}"""


def test_a_webgl_run_makes_no_webgl_context_of_its_own(
    browser: BrowserContext, server: LiveServer, images: Path
) -> None:
    """The WebGL frame named its renderer from a new WebGL context at every run (a live frame, a
    benchmark iteration): work inside the run's total, and contexts piling up toward chromium's limit,
    past which it takes the oldest, onnxruntime-web's own, away. It asks once now."""
    page = browser.new_page()
    page.add_init_script(COUNT_WEBGL_CONTEXTS)
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    page.set_input_files("#file", str(images / "face.jpg"))
    page.wait_for_selector("#run:not([disabled])")
    first = page.evaluate(WEBGL_RUN)
    (frame,) = [f for f in page.frames if "engine.html?backend=webgl" in f.url]
    made = frame.evaluate("window.webglContexts")
    for _ in range(3):
        assert page.evaluate(WEBGL_RUN) == first
    assert first[0] == 2 and first[1], first
    assert frame.evaluate("window.webglContexts") == made
    page.close()
