from __future__ import annotations

import os
import subprocess
import sys

from service.healthcheck import check
from service.localserver import free_port
from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer


def _run(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.healthcheck", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MVA_PORT": str(port)},
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
