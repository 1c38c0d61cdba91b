"""The bench's 1-client HTTP clients against the real service: the lean one and the spinning one give
the same answers on one keep-alive connection, and name the status of anything but a 200."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from service.bench.checkout import checkout
from service.bench.http import LeanClient, ServerFailed, SpinningClient, get_ok, local_server
from service.localserver import LOOPBACK, free_port
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer


@pytest.mark.parametrize("client_type", [LeanClient, SpinningClient])
def test_client_gets_the_services_answers_on_one_connection(
    server: LiveServer, images: Path, client_type: type[LeanClient] | type[SpinningClient]
) -> None:
    client = client_type(server.url)
    try:
        for name, label in [("cat.bmp", "Egyptian cat"), ("grace_hopper.bmp", "military uniform")]:
            body = client.post("/classify", {"top_k": "2"}, (images / name).read_bytes(), "image/bmp")
            predictions = json.loads(body)["predictions"]
            assert len(predictions) == 2 and predictions[0]["label"] == label
        with pytest.raises(RuntimeError, match="HTTP 422"):
            client.post("/classify", {"top_k": "0"}, (images / "cat.bmp").read_bytes(), "image/bmp")
        # the connection stays usable after an error answer
        assert json.loads(client.post("/classify", {}, (images / "cat.bmp").read_bytes(), "image/bmp"))
    finally:
        client.close()


@pytest.mark.parametrize("client_type", [LeanClient, SpinningClient])
def test_client_reconnects_when_the_server_closed_its_idle_connection(
    start_server: Callable[..., LiveServer],
    images: Path,
    client_type: type[LeanClient] | type[SpinningClient],
) -> None:
    """bench-goals lets a dozen configurations take turns, which can leave a connection idle past the
    server's keep-alive timeout (the crash that showed it: BrokenPipeError, made a silent exit 1 by
    click)."""
    server = start_server(keep_alive_s="0.2", warm_models='["mobilenet_v2"]')
    client = client_type(server.url)
    image = (images / "cat.bmp").read_bytes()
    try:
        for _ in range(2):
            assert json.loads(client.post("/classify", {}, image, "image/bmp"))["predictions"]
            time.sleep(0.6)  # the server has closed the connection by now
    finally:
        client.close()


@pytest.mark.parametrize("client_type", [LeanClient, SpinningClient])
def test_a_server_that_hangs_up_on_every_request_is_named_not_retried_for_ever(
    client_type: type[LeanClient] | type[SpinningClient],
) -> None:
    """A loopback listener that reads each request and closes the connection without an answer."""
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    connection.recv(1 << 16)

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        client = client_type(f"http://{LOOPBACK}:{port}")
        # ServerFailed: what a lab command ends with in one line (a RuntimeError was a traceback)
        with pytest.raises(ServerFailed, match="closed the connection again"):
            client.post("/classify", {}, b"not read", "image/jpeg")
        client.close()
    finally:
        listener.close()


def test_get_ok_is_a_200_or_a_server_failure_that_says_why(server: LiveServer) -> None:
    """What bench-ab and bench-batching ask a server besides the timed requests (/v1/models, /metrics):
    a server gone or answering other than 200 mid-run was httpx's traceback, or a KeyError later."""
    assert get_ok(f"{server.url}/v1/models", timeout=10).json()["models"]
    with pytest.raises(ServerFailed, match=r"/v1/nothing: HTTP 404: .*not_found"):
        get_ok(f"{server.url}/v1/nothing", timeout=10)
    nobody = f"http://{LOOPBACK}:{free_port()}/metrics"
    with pytest.raises(ServerFailed, match=rf"{nobody}: no answer \(ConnectError"):
        get_ok(nobody, timeout=10)


def test_a_relative_models_folder_is_the_same_folder_for_another_checkouts_server(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench-ab --rev serves the other revision from its own checkout (its working folder): a
    --models-dir relative to where the command runs must name the same folder there, not the
    checkout's models/, which holds no build (the models are not in git)."""
    monkeypatch.chdir(PROJECT_ROOT)
    with checkout("HEAD") as tree, local_server(Path("models"), tree=tree, ready_timeout_s=90) as (url, _):
        picture = (images / "cat.bmp").read_bytes()
        answer = httpx.post(f"{url}/classify", content=picture, headers={"content-type": "image/bmp"})
    assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "Egyptian cat"
