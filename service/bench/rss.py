"""The RSS goal of bench-goals: the server's memory (its whole process tree) sampled as 10,000
requests go through it, to show it stays under the limit and does not grow."""

from __future__ import annotations

import asyncio

from service.bench.http import api_key_headers
from service.bench.process import tree_rss_mb
from service.client import async_client_for


async def _send(url: str, image: bytes, count: int, concurrency: int) -> int:
    sent, failed = 0, 0
    # MVA_API_KEY when set: a server started by bench-goals inherits it
    async with async_client_for(url, timeout=60, headers=api_key_headers()) as client:

        async def user() -> None:
            nonlocal sent, failed
            while sent < count:
                sent += 1
                response = await client.post(
                    "/classify", content=image, headers={"content-type": "image/jpeg"}
                )
                failed += response.status_code != 200

        await asyncio.gather(*(user() for _ in range(concurrency)))
    return failed


def sample_points(total: int, step: int) -> list[int]:
    """Requests sent when the RSS is sampled: every `step`, and at `total` whether or not `step` divides
    it (a last partial step: the figures say `total` requests, and the README reads the RSS at it)."""
    return [*range(step, total, step), total]


def rss_over_requests(url: str, pid: int, image: bytes, total: int, step: int) -> dict:
    samples = [(0, tree_rss_mb(pid))]
    failed = 0
    for done in sample_points(total, step):
        failed += asyncio.run(_send(url, image, done - samples[-1][0], concurrency=4))
        samples.append((done, tree_rss_mb(pid)))
    after_warm = [mb for n, mb in samples if n >= step]
    return {
        "requests": total,
        "failed": failed,
        "rss_mb": samples,
        "max_mb": max(mb for _, mb in samples),
        "growth_after_first_step_mb": round(after_warm[-1] - after_warm[0], 1),
    }
