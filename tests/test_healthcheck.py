from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service.healthcheck import DEFAULT_PORT, check, local_host
from service.localserver import free_port, stop, wait_until_ready
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer


def _run(
    port: int | str, *args: str, host: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.healthcheck", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {}), "MVA_PORT": str(port), "MVA_HOST": host},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_answers_for_a_live_server(server: LiveServer) -> None:
    assert check("/healthz", server.port)
    assert check("/readyz", server.port)
    assert not check("/no-such-path", server.port)


def test_command_exit_code_follows_the_server(server: LiveServer) -> None:
    assert _run(server.port).returncode == 0
    assert _run(server.port, "/readyz").returncode == 0
    closed = _run(free_port())
    assert closed.returncode == 1
    assert "unhealthy: /healthz" in closed.stderr


def test_a_proxy_in_the_environment_is_not_asked(server: LiveServer) -> None:
    """A container may get HTTP_PROXY (Docker's client config adds it to every container it starts):
    the local server is asked directly, never through the proxy, which would make it look unhealthy."""
    proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"http_proxy": proxy, "HTTP_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""}
    result = _run(server.port, "/readyz", env=env)
    assert result.returncode == 0, result.stderr


def _serve_on(
    host: str, port: int | None, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`serve` on host:port; port None: serve's own default (MVA_PORT from `env`)."""
    command = [sys.executable, "-m", "service", "serve", "--host", host]
    command += [] if port is None else ["--port", str(port)]
    env = {**os.environ, "MVA_WARM_MODELS": "[]", "MVA_LOG_LEVEL": "warning", **(env or {})}
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_a_server_bound_to_one_address_is_asked_there(host: str, tmp_path: Path) -> None:
    """MVA_HOST names one address (a pod IP, ::1): the check asked 127.0.0.1 and found it unhealthy."""
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6")
    port = free_port()
    log = tmp_path / "server.log"
    process = _serve_on(host, port, log)
    try:
        wait_until_ready(f"http://{local_host(host)}:{port}/healthz", process, 60.0, log)
        answer = _run(port, host=host)
        assert answer.returncode == 0, answer.stderr
        assert not check("/healthz", port, host="127.0.0.1")  # where it used to ask
    finally:
        stop(process)


def test_a_port_that_is_no_number_is_unhealthy_in_one_line() -> None:
    answer = _run("http")
    assert answer.returncode == 1
    assert answer.stderr.startswith("unhealthy: ") and "Traceback" not in answer.stderr


def test_an_empty_port_variable_is_the_port_serve_takes(tmp_path: Path) -> None:
    """MVA_PORT= (a template's unset variable): `serve` ignores it and listens on 8000; the check failed
    to parse it and reported the container unhealthy for good."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", DEFAULT_PORT))
        except OSError:
            pytest.skip(f"port {DEFAULT_PORT} is taken on this host")
    log = tmp_path / "server.log"
    process = _serve_on("127.0.0.1", None, log, env={"MVA_PORT": ""})
    try:
        wait_until_ready(f"http://127.0.0.1:{DEFAULT_PORT}/healthz", process, 60.0, log)
        answer = _run("")
        assert answer.returncode == 0, answer.stderr
    finally:
        stop(process)


@pytest.mark.parametrize("path", ["healthz", "readyz?x=1", "/ready z", "/healthz\n"])
def test_a_path_that_is_none_is_a_usage_error_in_one_line(path: str) -> None:
    """`healthz` without its `/` ran into the port (`:8000healthz`), a space or a newline was refused by
    urllib: each a traceback, exit 1, as if the server were unhealthy."""
    answer = _run(free_port(), path)
    assert answer.returncode == 2
    assert answer.stderr.startswith("usage: python -m service.healthcheck [PATH]: PATH must ")
    assert answer.stderr.count("\n") == 1 and "Traceback" not in answer.stderr


def test_more_than_one_argument_is_a_usage_error() -> None:
    """`healthcheck /readyz 9000` (a port, as other checks take) checked /readyz on MVA_PORT and dropped
    the 9000 without a word."""
    answer = _run(free_port(), "/readyz", "9000")
    assert answer.returncode == 2
    assert (
        answer.stderr == "usage: python -m service.healthcheck [PATH]: one PATH at most (got 2 arguments)\n"
    )


def test_a_port_where_something_else_answers_is_unhealthy_in_one_line() -> None:
    """MVA_PORT naming another service's port (SSH, a TLS endpoint): its first line is no HTTP status
    line, and http.client's BadStatusLine was a traceback in the container's health log."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)

        def answer_as_ssh() -> None:
            connection, _ = listening.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        server = threading.Thread(target=answer_as_ssh, daemon=True)
        server.start()
        answer = _run(listening.getsockname()[1], host="127.0.0.1")
        server.join(timeout=10)
    assert answer.returncode == 1
    assert answer.stderr == "unhealthy: /healthz did not answer 200\n"
