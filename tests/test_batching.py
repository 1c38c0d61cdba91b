"""Opt-in micro-batching through a real server: concurrent requests share engine calls, and every
request still gets its own right answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer

KNOWN = {"grace_hopper.bmp": "military uniform", "cat.bmp": "Egyptian cat", "bird.bmp": "chickadee"}


@pytest.fixture(scope="module")
def batching(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(batch_window_ms="30", max_batch="4", warm_models='["mobilenet_v2", "blazeface_full"]')


def burst(server: LiveServer, calls: list[tuple[str, dict[str, str], bytes]]) -> list[httpx.Response]:
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *[client.post(path, params=params, files={"image": data}) for path, params, data in calls]
            )

    return asyncio.run(main())


def test_concurrent_requests_share_a_batch_and_keep_their_answers(batching: LiveServer, images: Path) -> None:
    names = sorted(KNOWN) * 3
    responses = burst(batching, [("/classify", {}, (images / name).read_bytes()) for name in names])
    assert all(r.status_code == 200 for r in responses)
    for name, response in zip(names, responses, strict=True):
        assert response.json()["predictions"][0]["label"] == KNOWN[name]
    sizes = [r.json()["batch_size"] for r in responses]
    assert max(sizes) > 1 and max(sizes) <= 4  # batched, never above MVA_MAX_BATCH


def test_detection_in_a_batch(batching: LiveServer, images: Path) -> None:
    data = {"face.jpg": 4, "grace_hopper.bmp": 1, "cat.bmp": 0}
    calls = [("/detect", {"model": "full"}, (images / name).read_bytes()) for name in data for _ in range(2)]
    responses = burst(batching, calls)
    expected = [count for count in data.values() for _ in range(2)]
    assert [len(r.json()["faces"]) for r in responses] == expected
    assert max(r.json()["batch_size"] for r in responses) > 1


def test_litert_is_never_batched(batching: LiveServer, images: Path) -> None:
    data = (images / "cat.bmp").read_bytes()
    responses = burst(batching, [("/classify", {"engine": "litert"}, data)] * 4)
    assert [r.json()["batch_size"] for r in responses] == [1, 1, 1, 1]


def test_batching_is_off_by_default(client: httpx.Client, images: Path) -> None:
    assert (
        client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()}).json()["batch_size"] == 1
    )
