"""service/localserver.py: a server from another checkout runs that checkout's code; logs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import httpx
import pytest

from loadtests.compare import warm_up
from service.bench.checkout import checkout
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
