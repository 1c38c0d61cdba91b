"""The RSS figures of a real CI-sized bench-goals run: sampled before and after every tenth of the
requests, none of which failed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from service.bench.rss import rss_over_requests
from service.bench.saturation import http_measure
from tests.conftest import LiveServer, metric


def test_rss_is_sampled_at_every_step_and_no_request_failed(goals_out: Path) -> None:
    rss = json.loads((goals_out / "goals.json").read_text())["rss"]
    assert rss["failed"] == 0 and rss["requests"] == 40
    assert [n for n, _ in rss["rss_mb"]] == list(range(0, 41, 4))
    assert all(mb > 50 for _, mb in rss["rss_mb"])  # the runtimes and a model are loaded
    assert rss["max_mb"] == max(mb for _, mb in rss["rss_mb"])
    after_first_step = [mb for n, mb in rss["rss_mb"] if n >= 4]
    assert rss["growth_after_first_step_mb"] == round(after_first_step[-1] - after_first_step[0], 1)


def test_the_rss_requests_and_the_saturation_load_send_the_api_key(
    start_server: Callable[..., LiveServer], images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started by bench-goals inherits MVA_API_KEY: the requests it is measured with must send
    it (the RSS figures were taken over 401s, and the saturation load found no request answered)."""
    keyed = start_server(api_key="bench-key", warm_models='["mobilenet_v2"]')
    monkeypatch.setenv("MVA_API_KEY", "bench-key")
    image = (images / "cat_720p.jpg").read_bytes()
    assert rss_over_requests(keyed.url, keyed.process.pid, image, 8, 4)["failed"] == 0
    load = http_measure(keyed.url, image, 2)(0.3)
    assert load.ok > 0 and load.failures == {}


def test_a_total_the_step_does_not_divide_is_sent_whole_and_sampled_at_its_end(
    server: LiveServer, images: Path
) -> None:
    """10 requests sampled every 4: the last step sends 2 (not none), so the server answers all 10 and
    the RSS is sampled at 10, where the README's goal row reads it."""

    def answered() -> float:
        with server.client() as client:
            text = client.get("/metrics").text
        return metric(text, "mva_requests_total", route="/classify", status="200")

    before = answered()
    rss = rss_over_requests(server.url, server.process.pid, (images / "cat_720p.jpg").read_bytes(), 10, 4)
    assert answered() - before == 10
    assert rss["requests"] == 10 and rss["failed"] == 0
    assert [n for n, _ in rss["rss_mb"]] == [0, 4, 8, 10]
