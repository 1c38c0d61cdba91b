"""service/workers.py: the folder `serve --workers N` shares among its processes, and readiness that
speaks for all of them (a real two-process server at the end)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.metrics import MULTIPROC_DIR
from service.localserver import serve_app
from service.workers import RUN_DIR, WORKER_PROCESSES, Siblings, shared_run_folder


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """None of the three set, and whatever the test (or shared_run_folder) sets undone afterwards."""
    for name in (RUN_DIR, WORKER_PROCESSES, MULTIPROC_DIR):
        monkeypatch.setenv(name, "")  # recorded, so teardown restores the value from before
        monkeypatch.delenv(name)
    yield


def test_the_run_folder_is_made_shared_and_removed(clean_env: None) -> None:
    with shared_run_folder(3) as folder:
        assert os.environ[RUN_DIR] == str(folder) and os.environ[WORKER_PROCESSES] == "3"
        assert os.environ[MULTIPROC_DIR] == str(folder / "metrics") and (folder / "ready").is_dir()
        assert Siblings.from_environment() == Siblings(folder / "ready", 3)
    assert not folder.exists()


def test_a_given_metrics_folder_is_kept(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    with shared_run_folder(2):
        assert os.environ[MULTIPROC_DIR] == str(tmp_path)


def test_one_process_has_no_siblings(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Siblings.from_environment() is None
    monkeypatch.setenv(RUN_DIR, str(tmp_path))
    monkeypatch.setenv(WORKER_PROCESSES, "1")
    assert Siblings.from_environment() is None


def test_only_live_processes_count_as_ready(tmp_path: Path) -> None:
    siblings = Siblings(tmp_path, 2)
    assert siblings.waiting_for() == 2
    siblings.mark_ready()
    assert siblings.waiting_for() == 1
    finished = subprocess.run(["true"], check=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / str(dead.pid)).touch()  # a process killed before it could take its file away
    assert finished.returncode == 0 and siblings.waiting_for() == 1
    with subprocess.Popen(["sleep", "30"]) as alive:
        (tmp_path / str(alive.pid)).touch()
        assert siblings.waiting_for() == 0
        alive.kill()
    siblings.mark_gone()
    assert not (tmp_path / str(os.getpid())).exists()


def test_two_processes_are_ready_together(tmp_path: Path, images: Path) -> None:
    """Once /readyz says ready, both processes have warmed up: no request meets one still warming."""
    image = (images / "cat.bmp").read_bytes()
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2) as (url, _):
        ready = sorted(p.name for p in (tmp_path / "ready").iterdir())
        assert len(ready) == 2 and os.getpid() not in map(int, ready)
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=60) as fresh:  # a new connection: either process
                assert fresh.post("/classify", files={"image": image}).status_code == 200
    assert list((tmp_path / "ready").iterdir()) == []  # each process took its file away as it stopped
