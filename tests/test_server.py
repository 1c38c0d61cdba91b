"""SIGTERM under load: /readyz turns false while the service still serves, in-flight requests finish,
and no request is lost when clients route as a load balancer does (stop sending once readiness fails;
the service keeps serving for MVA_SHUTDOWN_DELAY_S meanwhile)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from service.api.metrics import MULTIPROC_DIR
from service.localserver import serve_app
from service.server import listening_socket
from service.workers import Siblings
from tests.conftest import LiveServer, kill_leftovers, metric, until_shutting_down
from tests.raw_http import connect, exchange, read_to_close


def test_sigterm_under_load_loses_no_accepted_request(
    start_server: Callable[..., LiveServer], images: Path
) -> None:
    # 3 s of serving after SIGTERM: the readiness watcher, whose loop the clients' uploads share, must see a
    # 503 in it; a test process held up for a second on a loaded machine still does
    server = start_server(shutdown_delay_s="3.0", warm_models='["mobilenet_v2"]')
    data = (images / "cat.bmp").read_bytes()
    outcomes: dict[str, int] = {"answered": 0, "refused": 0, "lost": 0, "error_status": 0}
    readiness: list[tuple[float, int]] = []

    routed = {"ready": True}  # what a load balancer's readiness check last saw

    async def client_loop(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at and routed["ready"]:
            try:
                response = await client.post("/classify", files={"image": data})
            except httpx.ConnectError:
                outcomes["refused"] += 1  # never accepted: the listener was closed
                await asyncio.sleep(0.05)
                continue
            except httpx.TransportError:
                outcomes["lost"] += 1  # accepted, then dropped
                continue
            if response.status_code == 200 and response.json()["predictions"][0]["label"] == "Egyptian cat":
                outcomes["answered"] += 1
            else:
                outcomes["error_status"] += 1

    async def watch_readiness(client: httpx.AsyncClient, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            try:
                status = (await client.get("/readyz")).status_code
            except httpx.TransportError:
                status = 0
            readiness.append((time.monotonic(), status))
            routed["ready"] = status == 200
            await asyncio.sleep(0.05)

    async def main() -> float:
        stop_at = time.monotonic() + 6.0
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            tasks = [asyncio.create_task(client_loop(client, stop_at)) for _ in range(4)]
            tasks.append(asyncio.create_task(watch_readiness(client, stop_at)))
            await asyncio.sleep(1.0)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
        return signalled

    signalled = asyncio.run(main())
    assert server.process.wait(timeout=20) == 0
    # the first answer after SIGTERM that is not "ready" is the service's own 503, given while it still
    # serves: had readiness turned only when the listener closed, it would be a refused connection (0)
    after = [status for t, status in readiness if t > signalled]
    first_not_ready = next(status for status in after if status != 200)
    assert first_not_ready == 503, after
    assert outcomes["lost"] == outcomes["refused"] == outcomes["error_status"] == 0, outcomes
    assert outcomes["answered"] > 10


def _mapped(pid: int, fragment: str) -> bool:
    """Whether a shared object whose path contains `fragment` is loaded in process `pid`."""
    return fragment in Path(f"/proc/{pid}/maps").read_text()


def test_loop_and_http_parser_are_what_serve_was_told(
    start_server: Callable[..., LiveServer], server: LiveServer, images: Path
) -> None:
    """`serve --loop/--http` (MVA_LOOP / MVA_HTTP) really change what serves: the default runs on uvloop
    with httptools; asyncio + h11 (what the README's levers compare against) loads neither parser."""
    plain = start_server(loop="asyncio", http="h11", warm_models='["mobilenet_v2"]')
    picture = (images / "cat.bmp").read_bytes()
    for live, loop, parser_loaded in [(server, "uvloop.Loop", True), (plain, "asyncio.", False)]:
        with live.client() as client:
            assert client.get("/v1/models").json()["event_loop"].startswith(loop)
            answer = client.post("/classify", content=picture, headers={"content-type": "image/bmp"})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "Egyptian cat"
        assert _mapped(live.process.pid, "httptools/parser") is parser_loaded


def test_connections_on_the_serve_socket_turn_nagle_off_under_asyncio() -> None:
    """`serve` binds its socket itself and hands it to uvicorn. asyncio sets TCP_NODELAY only on
    connections of a socket made as TCP (proto IPPROTO_TCP, not 0): without it, `--loop asyncio` sent an
    answer's body ~40 ms after its head (Nagle waiting for the client's delayed ACK), 68 ms against 23 ms
    for /classify. Served the way uvicorn serves a given socket under asyncio: loop.create_server(sock=)."""

    async def nodelay_of_an_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        with listening_socket("127.0.0.1", 0) as sock:
            server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
            async with server:
                _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
                try:
                    return await asyncio.wait_for(accepted, 10)
                finally:
                    writer.close()

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0


def test_the_default_engine_setting_changes_the_engine_that_is_loaded(
    start_server: Callable[..., LiveServer], server: LiveServer, images: Path
) -> None:
    """MVA_ENGINE=litert: requests without parameters run LiteRT, and onnxruntime's library is never
    loaded (engines are imported on first use); the default server has loaded onnxruntime's."""
    litert = start_server(engine="litert", warm_models='["mobilenet_v2"]')
    with litert.client() as client:
        answer = client.post("/classify", files={"image": (images / "cat.bmp").read_bytes()}).json()
        runners = {(r["model"], r["engine"]) for r in client.get("/v1/models").json()["runners"]}
    assert answer["predictions"][0]["label"] == "Egyptian cat"
    assert (answer["settings"]["engine"], answer["settings"]["artifact"]) == (
        "litert",
        "mobilenet_v2/source.tflite",
    )
    assert runners == {("mobilenet_v2", "litert")}
    assert _mapped(litert.process.pid, "ai_edge_litert/")
    assert not _mapped(litert.process.pid, "onnxruntime/capi/")
    assert _mapped(server.process.pid, "onnxruntime/capi/")


def _idle_then_ask(port: int, idle_s: float) -> bytes:
    """One keep-alive connection: a request, `idle_s` of silence, a second request; the second answer's
    status line, or b"" when the server had closed the connection."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(port) as sock:
        head, _, _ = exchange(sock, request)
        assert head.split(b"\r\n", 1)[0] == b"HTTP/1.1 200 OK"
        time.sleep(idle_s)
        try:
            head, _, _ = exchange(sock, request)
        except ConnectionError:  # closed (raw_http.Closed), or reset, by the server
            return b""
        return head.split(b"\r\n", 1)[0]


def test_idle_connections_close_after_the_keep_alive_setting(start_server: Callable[..., LiveServer]) -> None:
    """MVA_KEEP_ALIVE_S reaches uvicorn: behind a proxy it must outlast the proxy's idle connections
    (compose: 75 s against nginx's 60 s; tests/deploy checks that pairing)."""
    patient = start_server(keep_alive_s="3", warm_models="[]")
    assert _idle_then_ask(patient.port, 1.5) == b"HTTP/1.1 200 OK"  # uvicorn's 5 s default would too
    brisk = start_server(keep_alive_s="0.5", warm_models="[]")
    assert _idle_then_ask(brisk.port, 1.5) == b""


@pytest.mark.parametrize("signals", [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT,)])
def test_sigint_or_a_second_signal_stops_at_once(
    start_server: Callable[..., LiveServer], signals: tuple[signal.Signals, ...]
) -> None:
    """Within MVA_SHUTDOWN_DELAY_S: Ctrl-C stopped serving but the process stayed up for the rest of the
    delay (its timer thread), and a first Ctrl-C waited out the delay (README: SIGINT stops at once)."""
    server = start_server(shutdown_delay_s="60", warm_models="[]")
    *first, last = signals
    for sig in first:
        server.process.send_signal(sig)
        # taken, and draining, before the next: two signals pending together run in signal-number
        # order in Python (SIGINT first), and the second would be no second signal
        until_shutting_down(server.url)
    server.process.send_signal(last)
    assert server.process.wait(timeout=20) in (0, 130, -signal.SIGINT)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight_and_exits_0(
    tmp_path: Path, images: Path, workers: int
) -> None:
    """One process died of its SIGTERM once drained (uvicorn raises it again: exit 143, which Docker,
    Kubernetes and systemd log as a failure; 0 only as a container's PID 1); `--workers N` exited 0.
    A request whose body is still arriving when the signal comes is answered either way."""
    data = (images / "cat.bmp").read_bytes()
    log = tmp_path / "server.log"
    env = {"MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_RUN_DIR": str(tmp_path / "run")}
    with serve_app(env, workers=workers, log=log, log_level="info") as (url, process):
        port = int(url.rsplit(":", 1)[1])
        with connect(port) as sock:
            sock.sendall(
                f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/bmp\r\n"
                f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n\r\n".encode()
            )
            # uvicorn says 100 once the route asks for the body: the request is the service's now
            assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(data[:1000])
            process.send_signal(signal.SIGTERM)  # the supervisor only, with workers, as Docker sends it
            deadline = time.monotonic() + 20
            while "Shutting down" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "Shutting down" in log.read_text()  # the request is in flight as the shutdown begins
            sock.sendall(data[1000:])
            reply = read_to_close(sock)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b"Egyptian cat" in reply
        assert process.wait(timeout=30) == 0


def test_the_workers_of_a_killed_supervisor_drain_and_exit(tmp_path: Path, images: Path) -> None:
    """`serve --workers N` killed with SIGKILL (or crashed; Docker and Kubernetes signal the supervisor
    only): its workers kept serving on the port, ready, for good, with nothing to stop or replace them,
    and a new `serve` could not bind there. They now drain as on a SIGTERM and exit."""
    run = tmp_path / "run"
    env = {"MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_RUN_DIR": str(run)}
    with serve_app(env, workers=2) as (url, process):
        workers = [psutil.Process(ready.pid) for ready in Siblings(run / "ready").marked_ready()]
        try:
            process.kill()
            process.wait()
            for worker in workers:
                worker.wait(timeout=30)
            with pytest.raises(httpx.ConnectError):  # nobody listens on the port any more
                httpx.get(f"{url}/readyz", timeout=30)
        finally:
            kill_leftovers(process, workers)
    assert list((run / "ready").iterdir()) == []  # each took its file away: a drained shutdown


def test_one_process_makes_the_metrics_folder_it_is_given(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR set for one process too (an environment shared with `--workers N`, which
    makes the folder): prometheus_client writes its files there from the app's first metric on, and a
    folder not there yet was a traceback at start-up, exit 1."""
    folder = tmp_path / "metrics"
    env = {MULTIPROC_DIR: str(folder), "MVA_WARM_MODELS": "[]"}
    with serve_app(env, workers=1) as (url, _), httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert metric(scrape.text, "mva_requests_total", route="/healthz", status="200") == 1
    assert list(folder.glob("counter_*.db"))  # what was scraped: the folder's files
