"""service/localserver.py: a server from another checkout runs that checkout's code; logs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import httpx
import pytest

from service.bench.checkout import checkout
from service.localserver import ServerDidNotStart, serve_app
from service.settings import PROJECT_ROOT


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
