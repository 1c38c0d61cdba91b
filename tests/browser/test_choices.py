"""web/src/choices.mjs in chromium: the detectors and precisions the page offers are the manifest's
(models/manifest.json, which the server reads too), not a list of the page's own."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from service.artifacts import ArtifactLayout
from service.manifest import Manifest
from tests.browser.conftest import opened_page
from tests.conftest import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route


def offered(page: Page, select: str) -> dict[str, Any]:
    """What `select` (an id) offers, [value, label] each, and the value selected."""
    return page.eval_on_selector(
        f"#{select}",
        "s => ({ options: Array.from(s.options, (o) => [o.value, o.textContent]), selected: s.value })",
    )


def choices_of(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """What the page must offer for `manifest`: its detectors by name, shown as their alias and input
    width ("short (128)"), and its classifier's precisions; the first of each selected."""
    detectors = [[m.name, f"{m.alias or m.name} ({m.input.width})"] for m in manifest.by_task("detection")]
    precisions = [[p, p] for p in manifest.by_task("classification")[0].precisions]
    return {
        "detector": {"options": detectors, "selected": detectors[0][0]},
        "precision": {"options": precisions, "selected": precisions[0][0]},
    }


def test_the_page_offers_the_manifests_detectors_and_precisions(
    browser: BrowserContext, server: LiveServer, manifest: Manifest
) -> None:
    with opened_page(browser, server.url) as page:
        assert {select: offered(page, select) for select in ("detector", "precision")} == choices_of(manifest)
        # what a visitor saw before the choices came from the manifest
        assert offered(page, "detector")["options"] == [
            ["blazeface_short", "short (128)"],
            ["blazeface_full", "full (192)"],
        ]
        assert offered(page, "precision")["selected"] == "int8"


def test_a_manifest_with_other_models_changes_the_choices_offered(
    browser: BrowserContext, server: LiveServer, layout: ArtifactLayout
) -> None:
    """The manifest served to the page (its real file, edited on the way) drops the full-range
    detector, adds one and lists fp32 first: the page offers exactly that, fp32 selected."""
    document = json.loads(layout.manifest.read_text())
    models = document["models"]
    models["blazeface_wide"] = models.pop("blazeface_full") | {"alias": "wide"}
    models["blazeface_wide"]["input"] = models["blazeface_wide"]["input"] | {"width": 256}
    models["mobilenet_v2"]["precisions"] = ["fp32", "int8"]

    def serve_edited(route: Route) -> None:
        route.fulfill(response=route.fetch(), json=document)

    routes = {f"{server.url}/v1/manifest": serve_edited}
    with opened_page(browser, server.url, routes) as page:
        assert {select: offered(page, select) for select in ("detector", "precision")} == choices_of(
            Manifest.model_validate(document)
        )
        assert offered(page, "detector")["options"][-1] == ["blazeface_wide", "wide (256)"]
