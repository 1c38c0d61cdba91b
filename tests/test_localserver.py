"""service/localserver.py: a server from another checkout runs that checkout's code; logs; a server that
does not start, as the commands that start them say it."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from loadtests.compare import warm_up
from loadtests.run import app as loadtests_app
from service.bench.checkout import checkout
from service.cli import app as service_app
from service.localserver import ServerDidNotStart, serve_app
from service.settings import PROJECT_ROOT
from service.workers import RUN_DIR
from tests.conftest import other_service_package


@pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="not a git checkout")
def test_serve_app_runs_the_code_of_the_tree_it_is_given() -> None:
    with checkout("HEAD") as tree:
        init = tree / "service" / "__init__.py"
        init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "0.0.0+tree"', init.read_text()))
        env = {"MVA_MODELS_DIR": str(PROJECT_ROOT / "models"), "MVA_WARM_MODELS": "[]"}
        with serve_app(env, tree=tree) as (url, _):
            assert httpx.get(f"{url}/openapi.json").json()["info"]["version"] == "0.0.0+tree"
        with serve_app(env) as (url, _):
            assert httpx.get(f"{url}/openapi.json").json()["info"]["version"] != "0.0.0+tree"


def test_serve_app_runs_this_code_whatever_package_the_working_folder_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m service` imports a service/ package in the working folder first: a bench run from
    inside another checkout (a worktree beside this one) timed that checkout's server against this
    code in-process, and bench-ab's "this tree" was that other code under this commit's name."""
    init = other_service_package(tmp_path) / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', '__version__ = "0.0.0+cwd"', init.read_text()))
    monkeypatch.chdir(tmp_path)
    env = {"MVA_MODELS_DIR": str(PROJECT_ROOT / "models"), "MVA_WARM_MODELS": "[]"}
    with serve_app(env) as (url, _):
        assert httpx.get(f"{url}/openapi.json").json()["info"]["version"] != "0.0.0+cwd"


def test_serve_app_runs_as_many_workers_as_its_environment_says(tmp_path: Path) -> None:
    """bench-ab's `--variant NAME:MVA_WORKERS=2` (or --env): the command line's `--workers 1`
    outranked the variable, and the variant ran one process under its name."""
    env = {"MVA_MODELS_DIR": str(PROJECT_ROOT / "models"), "MVA_WARM_MODELS": "[]"}
    env |= {"MVA_WORKERS": "2", RUN_DIR: str(tmp_path)}
    with serve_app(env):
        assert len(list((tmp_path / "ready").iterdir())) == 2  # a file per process that is ready


def test_serve_app_leaves_no_log_behind_after_a_good_run_and_keeps_a_failed_start_s(tmp_path: Path) -> None:
    """Its default log is a file in the temp folder: every bench or test run left one (thousands)."""
    env = {"MVA_MODELS_DIR": str(PROJECT_ROOT / "models"), "MVA_WARM_MODELS": "[]"}
    with serve_app(env) as (url, _):
        port = url.rsplit(":", 1)[1]
        log = Path(tempfile.gettempdir()) / f"mobile-vision-api-{port}.log"
        assert log.exists()
    assert not log.exists()
    with pytest.raises(ServerDidNotStart) as failed, serve_app({"MVA_MODELS_DIR": str(tmp_path)}):
        pass
    kept = Path(str(failed.value).rsplit("see ", 1)[1])
    assert "manifest.json" in kept.read_text()
    kept.unlink()


@pytest.mark.usefixtures("proxy_nowhere")
def test_the_lab_reaches_its_loopback_servers_past_a_proxy_in_the_environment(images: Path) -> None:
    """With HTTP_PROXY set (Docker's client config puts one in every container) and no NO_PROXY, the
    lab asked the proxy for the servers it starts on 127.0.0.1: serve_app never saw its server ready
    (ServerDidNotStart after its timeout), and compare's warm-up got no answer."""
    env = {"MVA_MODELS_DIR": str(PROJECT_ROOT / "models"), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, timeout_s=60) as (url, _):
        warm_up(url, images / "cat.bmp")


# each command that starts servers, run as far as its first server: the bench commands' own checks
# pass, their work is the least they take
SERVER_STARTING_COMMANDS = {
    "bench": [
        "bench",
        "--model",
        "mobilenet_v2",
        "--engine",
        "onnxruntime",
        "--threads",
        "1",
        "--mode",
        "http",
    ],
    "bench-goals": ["bench-goals", "--seconds", "0.1", "--rounds", "1", "--no-grid"],
    "bench-ab": ["bench-ab", "--variant", "a", "--variant", "b", "--replicas", "1", "--rounds", "1"],
    "bench-batching": ["bench-batching", "--seconds", "0.1", "--rounds", "1", "--window", "0"],
    "bench-browser": ["bench-browser", "--iterations", "1"],
    "loadtests.run ci": ["ci", "--run-time", "1s"],
}


@pytest.mark.parametrize("command", SERVER_STARTING_COMMANDS)
def test_a_server_that_does_not_start_ends_a_command_with_one_line_naming_its_log(
    command: str, images: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A server a command starts that exits before it answers (here: an MVA_LOOP `serve` refuses) ended
    `mobile-vision-api bench` and the others in a ServerDidNotStart traceback; it is one line on stderr
    naming the server's log, and exit code 1, as their --help says."""
    if command == "bench-browser":
        request.getfixturevalue("chromium")  # none: bench-browser stops before it starts a server
    args = [*SERVER_STARTING_COMMANDS[command], "--out", str(tmp_path / "out")]
    args += ["--large-image", str(images / "cat.bmp")] if command == "bench-goals" else []
    args += ["--images", str(images)] if command in ("bench-browser", "loadtests.run ci") else []
    cli = loadtests_app if command.startswith("loadtests") else service_app
    result = CliRunner().invoke(cli, args, env={"MVA_LOOP": "nope"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    # the progress notes before it stand; the failure is the last line, and the only one
    *notes, line = result.stderr.strip().splitlines()
    assert line.startswith("error: a server it started did not start: exited with 2"), result.stderr
    assert not [note for note in notes if "ServerDidNotStart" in note or "error" in note], result.stderr
    log = Path(line.rsplit("see ", 1)[1])
    assert "nope" in log.read_text()  # serve's own word on the variable it refused
    log.unlink()
