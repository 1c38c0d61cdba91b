"""Client side of the CLI: post an image to a running service (httpx) and render the answer (rich).
The httpx clients the CLI and the latency lab reach their servers with are built here (client_for)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

# httpx's own reading of the proxy environment (httpx is pinned): environment_proxy
from httpx._utils import URLPattern, get_environment_proxies
from rich.table import Table


class ApiError(Exception):
    """The service answered with an error, or something that is not the service did (a proxy's HTML)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status

    @classmethod
    def of(cls, response: httpx.Response) -> ApiError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, f"{error['code']}: {error['message']}")
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, f"{response.reason_phrase}: {_snippet(response)}")


def _snippet(response: httpx.Response) -> str:
    """The start of a body that is not the service's JSON, on one line (a proxy's or a portal's page)."""
    return " ".join(response.text.split())[:200] or "(empty body)"


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The service's answer; ApiError for a 200 from something else at --url (a web server, a login
    portal): its HTML was a JSONDecodeError traceback, another JSON a KeyError one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not {"settings", "timing"} <= body.keys():  # both routes answer them
        raise ApiError(
            response.status_code,
            f"{response.reason_phrase}, but not the service's answer: {_snippet(response)}",
        )
    return body


class Unreachable(Exception):
    """No answer at all: nothing listens, DNS, a timeout. `proxy`: the proxy the request went to, when
    one did (the service, or the proxy itself, may be what gave none)."""

    def __init__(self, message: str, proxy: str | None = None) -> None:
        super().__init__(message)
        self.proxy = proxy


class ProxyEnvironmentError(ValueError):
    """httpx cannot read a proxy variable (NO_PROXY=[fd00::1], say): it raised while building the client,
    and the CLI showed a traceback."""


class TimedOut(Unreachable):
    """The service took the request and did not answer in time: it runs, it is slow (a first
    preset=auto request measures for seconds)."""


QueryValue = str | int | float | None


def service_url(url: str) -> str:
    """The service's base URL. A bare host[:port] means http:// (as curl reads it): httpx would
    otherwise fail on it as if nothing listened there."""
    if "://" not in url:
        url = f"http://{url}"
    if url.split("://", 1)[0].lower() not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    # checked here, a usage error: httpx raised on a bad port with a traceback, posted nowhere for no host
    # and took port 99999 (the OS dials it modulo 65536, another port)
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{url!r} is not a URL: {exc}") from None
    if not parsed.host:
        raise ValueError(f"{url!r} names no host")
    if parsed.port is not None and parsed.port > 65535:
        raise ValueError(f"{url!r}: the port must be at most 65535")
    return url


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name
        return False
    # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel, but not is_loopback to ipaddress
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _trusts_environment(url: str) -> bool:
    """Whether httpx should read the environment (HTTP(S)_PROXY) for `url`: not for a loopback
    service, as Docker's client config puts a proxy in every container and the proxy's loopback is
    not this machine's, so the request got the proxy's error or no answer. Other addresses go
    through the proxy as asked."""
    return not loopback(httpx.URL(url).host)


def environment_proxy(url: str) -> str | None:
    """The proxy client_for's clients send a request for `url` to, if any, without its credentials; none
    for a loopback service. Only to name it in an error. httpx keeps the one it picked private, so this
    asks httpx's own reading of the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) and its
    own patterns, in the order an httpx.Client tries them: urllib's proxy_bypass reads NO_PROXY
    otherwise (a `*` among other names, IPv6 addresses, a leading dot), and named proxies httpx did not
    use."""
    if not _trusts_environment(url):
        return None
    target = httpx.URL(url)
    mounts = sorted((URLPattern(pattern), proxy) for pattern, proxy in get_environment_proxies().items())
    proxy = next((proxy for pattern, proxy in mounts if pattern.matches(target)), None)
    # shown in terminals and CI logs: without the user and password HTTP_PROXY may hold
    return None if proxy is None else str(httpx.URL(proxy).copy_with(username=None, password=None))


def client_for(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An httpx client for the service (or a baseline) at `url`, past any proxy when it is on
    loopback: what the CLI and the latency lab talk to their servers with."""
    return httpx.Client(base_url=url, timeout=timeout, headers=headers, trust_env=_trusts_environment(url))


def async_client_for(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """client_for's asyncio twin."""
    return httpx.AsyncClient(
        base_url=url, timeout=timeout, headers=headers, trust_env=_trusts_environment(url)
    )


def get_from(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """One GET of `url`, past any proxy as client_for's clients."""
    return httpx.get(url, timeout=timeout, headers=headers, trust_env=_trusts_environment(url))


def post_image(
    url: str,
    path: str,
    image: Path,
    params: Mapping[str, QueryValue],
    api_key: str | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    query = {k: v for k, v in params.items() if v is not None}
    # surrounding whitespace (a key from a file or a secret, with its newline) is no part of the key,
    # and a header cannot carry it: httpx refused to send it, which read as "no answer"
    key = api_key.strip() if api_key else ""
    headers = {"X-API-Key": key} if key else {}
    try:
        client = client_for(url, timeout_s, headers)
    except httpx.InvalidURL as exc:  # `url` was checked (a usage error): it is the environment's
        raise ProxyEnvironmentError(
            f"the proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) cannot be read: {exc}"
        ) from exc
    try:
        with client:
            response = client.post(path, params=query, files={"image": (image.name, image.read_bytes())})
    except httpx.TransportError as exc:
        # a refusal or a timeout may be the proxy's: "no answer from" the service alone sent the user
        # looking for a service that was never reached
        proxy = environment_proxy(url)
        where = url if proxy is None else f"{url} through the proxy {proxy}"
        if isinstance(exc, httpx.ReadTimeout):  # connected, sent: no answer in time
            raise TimedOut(f"no answer from {where} within {timeout_s:g} s", proxy) from exc
        raise Unreachable(f"no answer from {where}: {exc or type(exc).__name__}", proxy) from exc
    if response.status_code != 200:
        raise ApiError.of(response)
    return _answer(response)


def timing_table(body: dict[str, Any]) -> Table:
    s = body["settings"]
    table = Table(
        title=f"timing (ms) - {s['engine']} {s['precision']} kernels={s['kernels']} threads={s['threads']}"
    )
    for stage in body["timing"]:
        table.add_column(stage, justify="right")
    table.add_row(*(f"{v:.2f}" for v in body["timing"].values()))
    return table


def predictions_table(body: dict[str, Any], title: str) -> Table:
    table = Table(title=f"{title}: {body['model']}")
    table.add_column("label")
    table.add_column("score", justify="right")
    for p in body["predictions"]:
        table.add_row(p["label"], f"{p['score']:.3f}")
    return table


def faces_table(body: dict[str, Any], title: str) -> Table:
    table = Table(title=f"{title}: {len(body['faces'])} face(s), {body['model']}")
    corners = ("x_min", "y_min", "x_max", "y_max")
    for column in ("score", *corners):
        table.add_column(column, justify="right")
    for face in body["faces"]:
        table.add_row(f"{face['score']:.3f}", *(f"{face['box'][k]:.0f}" for k in corners))
    return table
