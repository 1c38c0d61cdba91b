"""web/src/preprocess.mjs in chromium: on a lossless picture the model input the page feeds
onnxruntime-web is the server's, to the bit, for every model in the manifest (its resize, letterbox
and (pixel - mean) / std)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from service.imaging.tensor import to_float
from service.manifest import InputSpec, Manifest
from service.pipeline import prepare
from service.timing import StageTimer
from tests.browser.conftest import PageSession, opened_page
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route

# the page's model input for the picked picture, as raw float32 bytes (base64: a JSON list of 150,000
# floats would round-trip through decimal)
PAGE_MODEL_INPUT = """async (input) => {
    const { toModelInput } = await import('/web/preprocess.mjs');
    const { bitmap, width, height } = window.mva.state.picture;
    const { data } = toModelInput(bitmap, width, height, input);
    let text = '';
    for (const byte of new Uint8Array(data.buffer)) text += String.fromCharCode(byte);
    return btoa(text);
}"""


def server_model_input(picture: Path, manifest: Manifest, model: str) -> np.ndarray:
    spec = manifest.get(model).input
    # the request path's own steps (decode at the model's scale, then preprocess), not a copy of them
    _, model_pixels = prepare(picture.read_bytes(), spec, 50_000_000, StageTimer())
    return to_float(model_pixels.pixels, spec)


@pytest.mark.parametrize("model", ["mobilenet_v2", "blazeface_short", "blazeface_full"])
def test_a_lossless_picture_gives_the_servers_model_input_to_the_bit(
    session: PageSession, images: Path, manifest: Manifest, model: str
) -> None:
    picture = images / "grace_hopper.bmp"
    session.pick(picture)
    spec = manifest.get(model).input
    found = session.page.evaluate(PAGE_MODEL_INPUT, spec.model_dump())
    page = np.frombuffer(base64.b64decode(found), dtype="<f4").reshape(1, spec.height, spec.width, 3)
    server = server_model_input(picture, manifest, model)
    differ = int(np.count_nonzero(page != server))
    assert differ == 0, f"{differ} of {server.size} values differ, by up to {np.abs(page - server).max()}"


def test_a_crop_the_manifest_leaves_to_its_default_is_the_servers(
    browser: BrowserContext, server: LiveServer, images: Path, manifest: Manifest
) -> None:
    """`central_fraction` may be left out of a center_crop input (service/manifest.py: 1.0, the whole
    picture): the page read it from the manifest as served, undefined, and cropped by NaN. The
    manifest the page loads now has the schema's default, and its model input is the server's."""

    def without_fraction(route: Route) -> None:
        response = route.fetch()
        served = response.json()
        del served["models"]["mobilenet_v2"]["input"]["central_fraction"]
        route.fulfill(response=response, json=served)

    picture = images / "grace_hopper.bmp"
    with opened_page(browser, server.url, {f"{server.url}/v1/manifest": without_fraction}) as page:
        PageSession(page, server.url).pick(picture)
        loaded = page.evaluate("window.mva.state.manifest.models.mobilenet_v2.input")
        found = page.evaluate(PAGE_MODEL_INPUT, loaded)
    raw = manifest.get("mobilenet_v2").input.model_dump(exclude={"central_fraction"})
    spec = InputSpec.model_validate(raw)
    tensor = np.frombuffer(base64.b64decode(found), dtype="<f4").reshape(1, spec.height, spec.width, 3)
    _, model_pixels = prepare(picture.read_bytes(), spec, 50_000_000, StageTimer())
    assert np.array_equal(tensor, to_float(model_pixels.pixels, spec))
    assert loaded["central_fraction"] == spec.central_fraction == 1.0
