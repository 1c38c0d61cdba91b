"""service/client.py's httpx clients, against a real server on loopback (the CLI's commands:
tests/test_cli.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from service.client import async_client_for, client_for, environment_proxy, get_from
from tests.conftest import API_KEY, LiveServer


async def _async_status(url: str, headers: dict[str, str]) -> int:
    async with async_client_for(url, timeout=30, headers=headers) as client:
        return (await client.get("/v1/models")).status_code


@pytest.mark.usefixtures("proxy_nowhere")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_every_client_reaches_a_loopback_service_past_a_proxy_in_the_environment(
    guarded: LiveServer, host: str
) -> None:
    """The proxy's loopback is not this machine's: asked for the service, it gives no answer. The
    CLI and every lab client (bench, load tests, browser bench) build their httpx clients here."""
    url = guarded.url.replace("127.0.0.1", host)
    key = {"x-api-key": API_KEY}
    with client_for(url, timeout=30, headers=key) as client:
        assert client.timeout == httpx.Timeout(30)
        assert client.get("/v1/models").status_code == 200
    assert get_from(f"{url}/v1/models", timeout=30, headers=key).status_code == 200
    assert asyncio.run(_async_status(url, key)) == 200
    # the key went as asked: without it the same request is refused
    assert get_from(f"{url}/v1/models", timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("env", "url", "proxy"),
    [
        ({"HTTP_PROXY": "http://proxy.example:3128"}, "http://service.example", "http://proxy.example:3128"),
        ({"ALL_PROXY": "proxy.example:3128"}, "http://service.example", "http://proxy.example:3128"),
        ({"HTTPS_PROXY": "http://proxy.example:3128"}, "http://service.example", None),
        (
            {"HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": "service.example"},
            "http://service.example",
            None,
        ),
        ({"HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": "*"}, "http://service.example", None),
        ({"HTTP_PROXY": "http://proxy.example:3128"}, "http://127.0.0.1:8000", None),  # loopback: never
        (
            {"HTTP_PROXY": "http://proxy.example:3128"},
            "http://[::ffff:127.0.0.1]:8000",
            None,
        ),  # 127.0.0.1 too
        # NO_PROXY as httpx reads it, where urllib's proxy_bypass reads it otherwise
        ({"HTTP_PROXY": "http://p.example:3128", "NO_PROXY": "a.example,*"}, "http://service.example", None),
        ({"HTTP_PROXY": "http://p.example:3128", "NO_PROXY": "fd00::1"}, "http://[fd00::1]:8000", None),
        (
            {"HTTP_PROXY": "http://p.example:3128", "NO_PROXY": ".service.example"},
            "http://service.example",
            "http://p.example:3128",  # a leading dot: its subdomains only
        ),
        (
            {"HTTP_PROXY": "http://p.example:3128", "NO_PROXY": "http://service.example"},
            "http://service.example",
            None,
        ),
        # named in terminals and CI logs: never with the password HTTP_PROXY holds
        (
            {"HTTP_PROXY": "http://user:secret@p.example:3128"},
            "http://service.example",
            "http://p.example:3128",
        ),
    ],
)
def test_the_proxy_named_in_an_error_is_the_one_the_environment_gives(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, proxy: str | None
) -> None:
    """The CLI names it when there is no answer (tests/test_cli.py: a proxy that refuses)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        for spelled in (name, name.lower()):
            monkeypatch.delenv(spelled, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(url) == proxy
    with client_for(url, timeout=1) as client:  # what httpx itself picked for the request
        transport = client._transport_for_url(httpx.URL(url))
    used = None
    if transport is not client._transport:
        picked = transport._pool._proxy_url  # type: ignore[attr-defined]  # httpcore's URL
        used = f"{picked.scheme.decode()}://{picked.host.decode()}:{picked.port}"
    assert used == proxy
