"""The suite's own server fixtures: a server lives as long as the scope that asked for it. (Every
server a test or a module started used to run until the whole session ended: 37 idle servers, ~5 GB,
by the middle of CI's suite.) The two tests run in file order: the second checks on the first's."""

from __future__ import annotations

from collections.abc import Callable

import psutil

from tests.conftest import LiveServer

started: dict[str, int] = {}


def test_a_test_starts_a_server(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(warm_models="[]")
    started["pid"] = server.process.pid
    with server.client() as client:
        assert client.get("/healthz").status_code == 200


def test_that_server_is_gone_once_its_test_ended() -> None:
    assert "pid" in started, "the test before this one did not run"
    assert not psutil.pid_exists(started["pid"]) or psutil.Process(started["pid"]).status() == "zombie"
