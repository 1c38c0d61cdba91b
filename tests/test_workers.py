"""service/workers.py: the folder `serve --workers N` shares among its processes, and readiness that
speaks for all of them, also while shutting down (real two-process servers at the end)."""

from __future__ import annotations

import errno
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from service.api.metrics import MULTIPROC_DIR
from service.artifacts import ArtifactLayout
from service.localserver import code_env, free_port, serve_app, serve_command
from service.processes import ProcessIdentity, identity_of, own_identity, pid_namespace, serving
from service.server import RESTART_WAIT_S, forget_inherited_markers
from service.settings import InvalidServerSettings
from service.workers import (
    FAILED_SUFFIX,
    JOINS_SERVING,
    RUN_DIR,
    RUN_FOLDER_PREFIX,
    SIGHUP_RESTART,
    SUPERVISOR,
    WORKER_PROCESSES,
    Siblings,
    drain_marker,
    record_worker_count,
    remove_stale_run_folders,
    shared_run_folder,
)
from tests.conftest import until_shutting_down


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
        assert Siblings.from_environment() == Siblings(folder / "ready")
        # the count every process reads, a plain file from the start (SIGTTIN/SIGTTOU rewrite it)
        assert Siblings(folder / "ready").expected_now() == 3
    assert not folder.exists()


def test_a_named_run_folder_starts_without_the_last_runs_drain(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUN_DIR, str(tmp_path))
    drain_marker(tmp_path).touch()
    with shared_run_folder(2) as folder:
        assert folder == tmp_path and not Siblings(folder / "ready").draining()


def test_a_named_run_folder_starts_without_the_last_runs_counts_ready_files_and_auto_choices(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last run's metrics files were summed into this run's /metrics (its requests counted again);
    its preset=auto choice was measured with its settings, maybe on another host."""
    monkeypatch.setenv(RUN_DIR, str(tmp_path))
    left = (tmp_path / "metrics" / "counter_123.db", tmp_path / "ready" / "123", tmp_path / "auto" / "a.json")
    for stale in left:
        stale.parent.mkdir()
        stale.touch()
    record_worker_count(tmp_path, 1)  # after the last run's SIGTTOU
    with shared_run_folder(2) as folder:
        assert list((folder / "metrics").iterdir()) == list((folder / "ready").iterdir()) == []
        assert list((folder / "auto").iterdir()) == []
        assert Siblings.from_environment() == Siblings(folder / "ready")
        assert Siblings(folder / "ready").expected_now() == 2
        assert Siblings(folder / "ready").auto_dir == folder / "auto"


def test_a_given_metrics_folder_is_kept(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    (tmp_path / "counter_123.db").touch()  # the caller's to empty (README)
    with shared_run_folder(2):
        assert os.environ[MULTIPROC_DIR] == str(tmp_path)
    assert (tmp_path / "counter_123.db").exists()


@pytest.mark.parametrize(("variable", "workers"), [(RUN_DIR, 2), (MULTIPROC_DIR, 2), (MULTIPROC_DIR, 1)])
def test_serve_says_which_folder_it_cannot_make_and_stops(
    variable: str, workers: int, tmp_path: Path
) -> None:
    """A named folder that cannot be made (a read-only filesystem, a file in its path) was a traceback,
    exit 1; it is now the line and the exit code 2 of the other MVA_* mistakes. One process writes its
    metrics to PROMETHEUS_MULTIPROC_DIR too, when set."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, variable: str(blocker / "run"), "MVA_WARM_MODELS": "[]"}
    result = subprocess.run(
        serve_command(free_port(), workers=workers), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {variable}: cannot make '{blocker / 'run'}")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_serve_says_which_run_folder_it_cannot_write_in_and_stops(tmp_path: Path) -> None:
    """A named run folder it can make but not write the worker count in (here its `workers` is a
    folder) was a traceback from the count's write; it is now the line and exit code 2 of the others."""
    run = tmp_path / "run"
    (run / "workers").mkdir(parents=True)
    (run / "workers" / "kept").write_text("")
    env = {**os.environ, RUN_DIR: str(run), "MVA_WARM_MODELS": "[]"}
    result = subprocess.run(
        serve_command(free_port(), workers=2), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {RUN_DIR}: cannot write in '{run}'")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_no_temporary_folder_names_the_variable_to_set(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No writable temporary folder (a read-only root filesystem without a tmpfs on /tmp)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))  # Python's own setting of the folder
    with pytest.raises(InvalidServerSettings) as refused, shared_run_folder(2):
        pass
    assert refused.value.problems[0].startswith(f"{RUN_DIR}: unset, and no run folder can be made in ")


def test_one_process_has_no_siblings(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Siblings.from_environment() is None
    monkeypatch.setenv(RUN_DIR, str(tmp_path))
    monkeypatch.setenv(WORKER_PROCESSES, "1")
    assert Siblings.from_environment() is None


def test_a_process_knows_it_replaces_one_by_the_variable_the_sighup_restart_sets(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(RUN_DIR, str(tmp_path))
    monkeypatch.setenv(WORKER_PROCESSES, "2")
    monkeypatch.delenv(SIGHUP_RESTART, raising=False)
    siblings = Siblings.from_environment()
    assert siblings is not None and not siblings.replaces_on_sighup
    monkeypatch.setenv(SIGHUP_RESTART, "1")
    siblings = Siblings.from_environment()
    assert siblings is not None and siblings.replaces_on_sighup


def test_the_supervisor_forgets_the_markers_it_would_have_inherited(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set by whatever started `serve` (a copied worker environment), SIGHUP_RESTART made a process
    SIGTTIN adds fail its startup on a failed warm-up, which stops uvicorn's supervisor."""
    monkeypatch.setenv(SIGHUP_RESTART, "1")
    monkeypatch.setenv(JOINS_SERVING, "1")
    forget_inherited_markers()
    assert SIGHUP_RESTART not in os.environ and JOINS_SERVING not in os.environ


def _run_of_two(run_dir: Path) -> Siblings:
    """A view of a run of two processes in `run_dir`, none ready yet (its count recorded, as
    shared_run_folder does)."""
    (run_dir / "ready").mkdir()
    record_worker_count(run_dir, 2)
    return Siblings(run_dir / "ready")


def test_only_live_processes_count_as_ready(tmp_path: Path) -> None:
    siblings = _run_of_two(tmp_path)
    ready = siblings.ready_dir
    assert siblings.waiting_for() == (2, 2)
    siblings.mark_ready()
    assert siblings.waiting_for() == (1, 2)
    finished = subprocess.run(["true"], check=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (ready / str(dead.pid)).touch()  # a process killed before it could take its file away
    assert finished.returncode == 0 and siblings.waiting_for() == (1, 2)
    with subprocess.Popen(["sleep", "30"]) as alive:
        (ready / str(alive.pid)).touch()
        assert siblings.waiting_for() == (0, 2)
        alive.kill()
    siblings.mark_gone()
    assert not (ready / own_identity().name).exists()


def test_a_process_whose_warm_up_failed_is_counted_apart_while_it_serves(tmp_path: Path) -> None:
    """Its siblings' /readyz said it was "still warming up", for good."""
    siblings = _run_of_two(tmp_path)
    assert siblings.failed_now() == 0
    siblings.mark_failed()
    assert siblings.failed_now() == 1 and siblings.waiting_for() == (2, 2)  # not ready: failed
    dead = subprocess.Popen(["true"])
    dead.wait()
    (siblings.ready_dir / f"{dead.pid}{FAILED_SUFFIX}").touch()  # a failed one killed since
    assert siblings.failed_now() == 1
    siblings.mark_gone()
    assert siblings.failed_now() == 0 and not any(siblings.ready_dir.glob(f"{own_identity().name}*"))
    shutil.rmtree(siblings.ready_dir)  # a /tmp cleaner: marking raised out of the warm-up, which in a
    siblings.mark_failed()  # process started beside others that serve stopped the supervisor
    siblings.mark_ready()


# a worker process warmed up: its file in the ready folder argv[1]
_MARK_READY = """
import sys
from pathlib import Path
from service.workers import Siblings
Siblings(Path(sys.argv[1])).mark_ready()
"""


def test_a_ready_file_whose_pid_a_later_process_has_does_not_count(tmp_path: Path) -> None:
    """A worker killed before it could take its ready file away, its pid then given to another process
    (here this test's, live): counted as ready, /readyz said ready with one process still warming up."""
    siblings = _run_of_two(tmp_path)
    ready = siblings.ready_dir
    subprocess.run([sys.executable, "-c", _MARK_READY, ready], check=True, env=os.environ | code_env())
    (worker,) = siblings.marked_ready()
    assert worker.started is not None
    # its start time, the pid this process has
    (ready / worker.name).rename(ready / ProcessIdentity(os.getpid(), worker.started).name)
    assert siblings.waiting_for() == (2, 2)


def test_two_processes_are_ready_together(tmp_path: Path, images: Path) -> None:
    """Once /readyz says ready, both processes have warmed up: no request meets one still warming."""
    image = (images / "cat.bmp").read_bytes()
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2) as (url, _):
        ready = sorted(p.name for p in (tmp_path / "ready").iterdir())
        assert len(ready) == 2 and own_identity().name not in ready
        for _ in range(20):
            with httpx.Client(base_url=url, timeout=60) as fresh:  # a new connection: either process
                assert fresh.post("/classify", files={"image": image}).status_code == 200
    assert list((tmp_path / "ready").iterdir()) == []  # each process took its file away as it stopped


def test_sigterm_drains_every_process(tmp_path: Path, images: Path) -> None:
    """SIGTERM to the supervisor of `serve --workers 2` shuts down as one process does: every process
    reports not ready and keeps answering for MVA_SHUTDOWN_DELAY_S; then the server exits by itself."""
    image = (images / "cat.bmp").read_bytes()
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_SHUTDOWN_DELAY_S": "5"}
    with serve_app(env, workers=2) as (url, process):
        process.send_signal(signal.SIGTERM)  # the supervisor only, as Docker and Kubernetes send it
        until_shutting_down(url)
        readiness, labels = [], []
        for _ in range(10):
            with httpx.Client(base_url=url, timeout=30) as fresh:  # a new connection: either process
                ready = fresh.get("/readyz")
                readiness.append((ready.status_code, ready.json()["error"]["message"]))
                answer = fresh.post("/classify", files={"image": image})
                labels.append(answer.json()["predictions"][0]["label"])
        assert process.poll() is None  # still serving within the delay
        assert set(readiness) == {(503, "shutting down")}
        assert set(labels) == {"Egyptian cat"}
        assert process.wait(timeout=20) == 0
    assert list((tmp_path / "ready").iterdir()) == []


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": "[]", "MVA_SHUTDOWN_DELAY_S": "60"}
    with serve_app(env, workers=2) as (url, process):
        process.send_signal(signal.SIGTERM)
        until_shutting_down(url)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0  # not the 60 s of the delay


@pytest.mark.parametrize("start_signal", [signal.SIGHUP, signal.SIGTTIN], ids=["SIGHUP", "SIGTTIN"])
def test_a_sighup_or_sigttin_while_draining_starts_no_process(
    tmp_path: Path, start_signal: signal.Signals
) -> None:
    """uvicorn's supervisor started new processes after SIGTERM too: each warmed up only to be stopped
    (SIGKILLed while still warming) when the drain ended."""
    log = tmp_path / "serve.log"
    env = {RUN_DIR: str(tmp_path / "run"), "MVA_WARM_MODELS": "[]", "MVA_SHUTDOWN_DELAY_S": "60"}
    with serve_app(env, workers=2, log=log, log_level="info") as (url, process):
        supervisor = psutil.Process(process.pid)
        workers = {child.pid for child in supervisor.children()}
        process.send_signal(signal.SIGTERM)
        until_shutting_down(url)
        process.send_signal(start_signal)
        _until(lambda: "while draining: no process started" in log.read_text(), "the signal ignored")
        assert {child.pid for child in supervisor.children()} == workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_sigterm_to_the_whole_process_group_ends_the_drain(tmp_path: Path) -> None:
    """A terminal or `kill -- -PGID` signals the workers too: they stop, are not replaced, and the
    supervisor does not wait out a drain with nobody left to serve."""
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": "[]", "MVA_SHUTDOWN_DELAY_S": "60"}
    with serve_app(env, workers=2) as (_, process):
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0  # not the 60 s of the delay


def _readiness(url: str) -> tuple[int, str]:
    """/readyz's status and reason, on a new connection (either process may answer it)."""
    with httpx.Client(base_url=url, timeout=30) as fresh:
        answer = fresh.get("/readyz")
    return answer.status_code, answer.json().get("error", {}).get("message", "ready")


def _until(done: Callable[[], bool], what: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not done():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def test_sigttou_retires_a_process_and_readiness_waits_for_those_left(tmp_path: Path) -> None:
    """uvicorn's supervisor retires a process on SIGTTOU: /readyz waited for the `--workers` count, and
    said "1 of 2 worker processes still warming up" until the server was restarted."""
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": "[]"}
    with serve_app(env, workers=2) as (url, process):
        siblings = Siblings(tmp_path / "ready")
        process.send_signal(signal.SIGTTOU)
        # the one retired took its file away
        _until(lambda: len(siblings.marked_ready()) == 1, "one process left after SIGTTOU")
        assert [_readiness(url) for _ in range(4)] == [(200, "ready")] * 4


def test_sigttin_adds_a_process_and_readiness_waits_for_it_to_warm_up(tmp_path: Path) -> None:
    """uvicorn's supervisor adds a process on SIGTTIN: /readyz said ready while it warmed up (two of the
    `--workers 2` were), and requests met it cold."""
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2) as (url, process):
        process.send_signal(signal.SIGTTIN)
        warming = (503, "1 of 3 worker processes still warming up")
        _until(lambda: _readiness(url) == warming, f"/readyz {warming} after SIGTTIN")
        _until(lambda: _readiness(url) == (200, "ready"), "ready again")
        assert len(Siblings(tmp_path / "ready").marked_ready()) == 3


def _classify_until(url: str, image: bytes, stop: threading.Event, answers: list[str]) -> None:
    """POSTs /classify, each on a new connection (either process may take it), until `stop`: each answer's
    status, or the error in its place."""
    while not stop.is_set():
        try:
            with httpx.Client(base_url=url, timeout=60) as fresh:
                answers.append(str(fresh.post("/classify", files={"image": image}).status_code))
        except httpx.HTTPError as exc:
            answers.append(repr(exc))


def test_sighup_replaces_every_process_and_no_request_meets_one_warming_up(
    tmp_path: Path, images: Path
) -> None:
    """uvicorn's SIGHUP starts a new process, waits for its startup to be over, retires an old one, and so
    on: the startup was over before the warm-up (a thread, /healthz answering meanwhile), so requests met
    the new process cold (503 not ready) while the old one was gone. Both back and ready afterwards, and
    SIGTTOU and SIGTTIN still go by the count /readyz reads."""
    image = (images / "cat.bmp").read_bytes()
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": '["mobilenet_v2", "blazeface_short", "blazeface_full"]'}
    with serve_app(env, workers=2) as (url, process):
        siblings = Siblings(tmp_path / "ready")
        old = set(siblings.marked_ready())
        answers: list[str] = []
        stop = threading.Event()
        client = threading.Thread(target=_classify_until, args=(url, image, stop, answers))
        client.start()
        try:
            _until(lambda: len(answers) > 0, "a first answer")
            process.send_signal(signal.SIGHUP)
            _until(lambda: _replaced(siblings, old), "both processes replaced after SIGHUP")
        finally:
            stop.set()
            client.join()
        assert answers and set(answers) == {"200"}, sorted(set(answers))
        assert not any(serving(process) for process in old)
        assert _readiness(url) == (200, "ready") and siblings.expected_now() == 2
        process.send_signal(signal.SIGTTOU)
        _until(lambda: len(siblings.marked_ready()) == 1, "one process left after SIGTTOU")
        assert _readiness(url) == (200, "ready") and siblings.expected_now() == 1
        process.send_signal(signal.SIGTTIN)
        _until(lambda: len(_ready_now(siblings)) == 2, "a process added after SIGTTIN")
        assert _readiness(url) == (200, "ready") and siblings.expected_now() == 2


def test_a_sighup_replacement_that_dies_during_the_restart_is_replaced_at_once(tmp_path: Path) -> None:
    """uvicorn's restart keeps a slot's new process once it is ready, then starts the next slot's, which
    reaps any child that died meanwhile: a replacement that marked itself ready and was killed while the
    next one started could no longer be matched to its mark, and its exit counted as a quick exit (a
    warning, a 1 s wait). It had started (uvicorn kept it only once ready): replaced at once."""
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    siblings = Siblings(run_dir / "ready")
    env = {RUN_DIR: str(run_dir), "MVA_WARM_MODELS": "[]"}
    with serve_app(env, workers=3, log=log, log_level="info") as (url, process):
        old = _ready_now(siblings)
        assert len(old) == 3
        process.send_signal(signal.SIGHUP)
        # uvicorn kept the first slot's new process (it retires the old one only then), and goes on with
        # the second slot's; the third slot's start, seconds later, reaps the one killed here
        _until(lambda: not all(serving(o) for o in old), "the first slot's old process retired")
        # the first slot's (the second slot's too, should this thread have been held up for seconds)
        killed = min(_ready_now(siblings) - old, key=lambda new: new.started or 0)
        os.kill(killed.pid, signal.SIGKILL)
        _until(lambda: len(_ready_now(siblings) - old) == 3, "three new processes ready", within_s=120)
        assert killed not in _ready_now(siblings) and _readiness(url) == (200, "ready")
    logged = log.read_text()
    assert "was killed by SIGKILL" not in logged and "quick exit" not in logged
    assert len(_RESTARTED.findall(logged)) == 1  # the killed one's replacement, started at once


def _ready_now(siblings: Siblings) -> set[ProcessIdentity]:
    return {process for process in siblings.marked_ready() if serving(process)}


def _replaced(siblings: Siblings, old: set[ProcessIdentity]) -> bool:
    """Two processes ready, none of them one of `old`."""
    now = _ready_now(siblings)
    return len(now) == 2 and now.isdisjoint(old)


def _readiness_until(url: str, stop: threading.Event, answers: list[tuple[int, str]]) -> None:
    """/readyz, each on a new connection, until `stop`: each answer's status and reason, or the error."""
    while not stop.is_set():
        try:
            answers.append(_readiness(url))
        except httpx.HTTPError as exc:
            answers.append((0, repr(exc)))


def _live_gauge_processes(metrics: Path) -> set[ProcessIdentity | None]:
    """The processes whose live gauges (mva_queue_depth) a scrape of `metrics` would add up."""
    files = metrics.glob("gauge_live*.db")  # gauge_live<mode>_<identity>.db
    return {ProcessIdentity.from_name(path.stem.rpartition("_")[2]) for path in files}


def test_a_sighup_restart_whose_new_process_fails_its_warm_up_keeps_the_old_processes(
    tmp_path: Path, images: Path, layout: ArtifactLayout
) -> None:
    """Models deployed that do not load, then SIGHUP: the new process started not ready, uvicorn saw its
    startup over and retired the old one all the same, and so on: every process answered 503. Now the
    new process exits, uvicorn keeps the old ones (ready, answering) and gives the restart up, and the
    log says why. A process SIGTTIN adds still starts not ready instead (one whose startup failed would
    stop uvicorn's supervisor)."""
    image = (images / "cat.bmp").read_bytes()
    models = tmp_path / "models"
    # links, not copies: only the files made corrupt are written
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"), copy_function=os.symlink)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    env = {RUN_DIR: str(run_dir), "MVA_MODELS_DIR": str(models), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2, log=log) as (url, process):
        siblings = Siblings(run_dir / "ready")
        old = _ready_now(siblings)
        assert len(old) == 2
        # the old processes have loaded theirs; a process started now cannot, whatever its default precision
        for onnx in (models / "build" / "mobilenet_v2").glob("*.onnx"):
            onnx.unlink()
            onnx.write_bytes(b"this is not an onnx model")
        answers: list[str] = []
        readiness: list[tuple[int, str]] = []
        stop = threading.Event()
        clients = [
            threading.Thread(target=_classify_until, args=(url, image, stop, answers)),
            threading.Thread(target=_readiness_until, args=(url, stop, readiness)),
        ]
        for client in clients:
            client.start()
        try:
            _until(lambda: bool(answers and readiness), "a first answer")
            process.send_signal(signal.SIGHUP)
            # a new process that did not exit at its failed warm-up would be waited for this long, and
            # killed only then; an old one retired: the restart went on (the assertions below say so)
            _until(
                lambda: "aborting the restart" in log.read_text() or not all(map(serving, old)),
                "the restart given up",
                RESTART_WAIT_S,
            )
        finally:
            stop.set()
            for client in clients:
                client.join()
        assert answers and set(answers) == {"200"}, sorted(set(answers))
        assert readiness and set(readiness) == {(200, "ready")}, sorted(set(readiness))
        # the old processes serve on; the one that failed left neither a ready file nor a live gauge
        assert _ready_now(siblings) == set(siblings.marked_ready()) == old
        assert _live_gauge_processes(run_dir / "metrics") == old
        for _ in range(10):
            with httpx.Client(base_url=url, timeout=60) as fresh:  # a new connection: either process
                answer = fresh.post("/classify", files={"image": image})
                assert answer.json()["predictions"][0]["label"] == "Egyptian cat"
        logged = log.read_text()
        assert (
            "SIGHUP restart: the new process's warm-up failed (mobilenet_v2: InvalidProtobuf); it exits "
            "and the old processes keep serving"
        ) in logged
        assert logged.index("SIGHUP restart:") < logged.index("aborting the restart")

        process.send_signal(signal.SIGTTIN)
        failed = "warm-up of mobilenet_v2 failed (InvalidProtobuf); the server log has the details"
        _until(lambda: _readiness(url) == (503, failed), "the added process answering not ready")
        # and the old ones say so, not "still warming up"
        by_the_others = "1 of 3 worker processes failed their warm-up (see the log)"
        _until(lambda: _readiness(url) == (503, by_the_others), "an old process naming the failed one")
        assert process.poll() is None and len(siblings.marked_ready()) == 2
        logged = log.read_text()
        assert logged.count("SIGHUP restart:") == 1 and "failed to start" not in logged


def _healthz_until(url: str, stop: threading.Event, answers: list[str]) -> None:
    """GETs /healthz, each on a new connection, until `stop`: each answer's status, or the error."""
    while not stop.is_set():
        try:
            with httpx.Client(base_url=url, timeout=30) as fresh:
                answers.append(str(fresh.get("/healthz").status_code))
        except httpx.HTTPError as exc:
            answers.append(repr(exc))
        time.sleep(0.05)


# the supervisor's warning for a replacement that died at load (exit 1: the traceback of the settings' check)
_QUICK_EXIT = re.compile(
    r"\(slot \d of 2\) exited \(code 1\) .* (\d+) quick exit\(s\) in a row: restarting it in (\d+) s"
)
_RESTARTED = re.compile(r"Child process \[\d+\] died")  # uvicorn's, logged as it starts the replacement
_SERVES_AGAIN = re.compile(r"serves again after (\d+) quick exit\(s\)")


def test_a_worker_that_keeps_dying_at_load_is_restarted_later_each_time(
    tmp_path: Path, layout: ArtifactLayout
) -> None:
    """uvicorn's supervisor restarted a dead process at its next check, every 0.5 s for good, when the
    replacement died loading the app (here: the models manifest gone after start-up): a core burnt on
    imports, and the log never said it was a crash loop. Now each exit before the process marked itself
    ready doubles the wait, with a warning each, one restart after each; the other process serves on
    meanwhile, and SIGTERM stops the server at once while a restart is pending."""
    models = tmp_path / "models"
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"), copy_function=os.symlink)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    env = {
        RUN_DIR: str(run_dir),
        "MVA_MODELS_DIR": str(models),
        "MVA_WARM_MODELS": "[]",
        "MVA_SHUTDOWN_DELAY_S": "0",
    }
    with serve_app(env, workers=2, log=log, log_level="info") as (url, process):
        killed, survivor = _ready_now(Siblings(run_dir / "ready"))
        (models / "manifest.json").unlink()  # every process started from now on dies at app load
        os.kill(killed.pid, signal.SIGKILL)
        _until(lambda: not serving(killed), "the killed process gone")  # its connections too
        answers: list[str] = []
        stop = threading.Event()
        client = threading.Thread(target=_healthz_until, args=(url, stop, answers))
        client.start()
        try:
            # a restart pending for 8 s: a loop that slept through it would hold the SIGTERM that long
            _until(lambda: "restarting it in 8 s" in log.read_text(), "an 8 s wait", within_s=180)
        finally:
            stop.set()
            client.join()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    logged = log.read_text()
    sigterm = logged.index("Received SIGTERM")
    warnings = list(_QUICK_EXIT.finditer(logged, 0, sigterm))
    # the killed process had marked itself ready: replaced at once, no quick exit; those after it count
    # from one, however long each took to die, the wait doubling (a test process held up for over 8 s
    # before its SIGTERM sees one more warning: 5, 16 s)
    counted = [(int(n), int(delay)) for n, delay in (w.groups() for w in warnings)]
    assert len(counted) >= 4 and counted == [(n, min(30, 2 ** (n - 1))) for n in range(1, len(counted) + 1)]
    assert "was killed by SIGKILL" not in logged
    # one restart (uvicorn's line as it starts the replacement) after each warning: held back until
    # then, not one at every check; at most one after the last (none while its wait was pending)
    between = [m.end() for m in warnings] + [sigterm]
    restarts = [len(_RESTARTED.findall(logged, start, end)) for start, end in itertools.pairwise(between)]
    assert restarts[:-1] == [1] * (len(restarts) - 1) and restarts[-1] <= 1, restarts
    assert not _RESTARTED.search(logged, sigterm)  # nothing started after SIGTERM
    assert answers and set(answers) == {"200"}, sorted(set(answers))
    assert not serving(survivor)


def test_a_slot_whose_cause_is_fixed_serves_again_and_starts_its_count_again(
    tmp_path: Path, layout: ArtifactLayout
) -> None:
    """While a slot waits, /readyz says a process is still warming up; once the manifest is back its next
    process marks itself ready, the log says the slot serves again, and its count is forgotten then (it
    was at an age, 10 s, which a process dying slowly at load also reached)."""
    models = tmp_path / "models"
    shutil.copytree(layout.root, models, ignore=shutil.ignore_patterns("cache"), copy_function=os.symlink)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    env = {RUN_DIR: str(run_dir), "MVA_MODELS_DIR": str(models), "MVA_WARM_MODELS": "[]"}
    siblings = Siblings(run_dir / "ready")
    with serve_app(env, workers=2, log=log, log_level="info") as (url, _):
        killed, survivor = _ready_now(siblings)
        manifest = models / "manifest.json"
        manifest.unlink()
        os.kill(killed.pid, signal.SIGKILL)
        _until(lambda: "restarting it in 2 s" in log.read_text(), "a 2 s wait")
        status, reason = _readiness(url)
        assert status == 503 and "1 of 2 worker processes still warming up" in reason, reason
        manifest.symlink_to(layout.root / "manifest.json")  # the cause fixed
        # 2 quick exits, or more when the next process read the manifest before the test put it back
        _until(lambda: _SERVES_AGAIN.search(log.read_text()) is not None, "the slot serving again")
        _until(lambda: len(_ready_now(siblings)) == 2, "two processes ready")
        assert survivor in _ready_now(siblings) and _readiness(url) == (200, "ready")
    logged = log.read_text()
    serves_again = _SERVES_AGAIN.search(logged)
    assert serves_again is not None
    quick_exits = int(serves_again.group(1))
    assert quick_exits >= 2 and len(_QUICK_EXIT.findall(logged)) == quick_exits, logged


def _feed_counts(fifo: Path, counts: list[str], stop: threading.Event) -> None:
    """Each opening of `fifo` for reading gets the next of `counts`, as if the supervisor rewrote the
    count (SIGTTIN, SIGTTOU) between reads; until `stop`."""
    for count in counts:
        while not stop.is_set():
            try:  # succeeds only while a reader has it open: one is waiting for the count
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as no_reader:
                assert no_reader.errno == errno.ENXIO
                time.sleep(0.01)
                continue
            with os.fdopen(writer, "w") as pipe:
                pipe.write(count)
            stop.wait(0.5)  # the reader has read to the end and closed, before anyone may open it again
            break


def test_readiness_names_the_count_it_decided_on(tmp_path: Path) -> None:
    """/readyz read the count twice on a 503, once to decide and again for its reason: a SIGTTIN in
    between said "3 of 2 worker processes still warming up". The count here is a named pipe in place of
    the file, handing out 5 (3 of 5 still warming up) and then 2 (both ready)."""
    env = {RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": "[]"}
    with serve_app(env, workers=2) as (url, _):
        count = tmp_path / "workers"
        os.mkfifo(tmp_path / "workers.fifo")
        (tmp_path / "workers.fifo").replace(count)
        stop = threading.Event()
        feeder = threading.Thread(target=_feed_counts, args=(count, ["5", "2"], stop))
        feeder.start()
        try:
            readiness = _readiness(url)
        finally:
            stop.set()
            feeder.join()
            record_worker_count(tmp_path, 2)  # a file again
        assert readiness == (503, "3 of 5 worker processes still warming up")


def test_readiness_without_the_worker_count_says_so(tmp_path: Path) -> None:
    """A run folder whose count was removed (a /tmp cleaner) made /readyz a 500, logged at every probe;
    it is a 503 that says why, and ready again once the count is back."""
    with serve_app({RUN_DIR: str(tmp_path), "MVA_WARM_MODELS": "[]"}, workers=2) as (url, _):
        _until(lambda: _readiness(url) == (200, "ready"), "ready")
        (tmp_path / "workers").unlink()
        assert _readiness(url) == (503, "the run folder's worker count cannot be read")
        record_worker_count(tmp_path, 2)
        assert _readiness(url) == (200, "ready")


def test_a_count_the_supervisor_cannot_record_does_not_stop_it(tmp_path: Path) -> None:
    """The supervisor records its count on SIGTTIN and SIGTTOU; a run folder it could not write to
    raised out of its loop and ended the whole server. It now says so and goes on: the process is
    added or retired, and /readyz goes by the count recorded before."""
    run, log = tmp_path / "run", tmp_path / "serve.log"
    with serve_app({RUN_DIR: str(run), "MVA_WARM_MODELS": "[]"}, workers=2, log=log) as (url, process):
        # a folder where record_worker_count writes its file before renaming it: no write there, as root
        # too, and the count already recorded stays readable
        (run / f"workers.{process.pid}.tmp").mkdir()
        siblings = Siblings(run / "ready")
        process.send_signal(signal.SIGTTIN)
        _until(lambda: len(siblings.marked_ready()) == 3, "a process added after SIGTTIN")
        process.send_signal(signal.SIGTTOU)
        _until(lambda: len(siblings.marked_ready()) == 2, "a process retired after SIGTTOU")
        assert process.poll() is None and _readiness(url) == (200, "ready")
        said = log.read_text()
    assert said.count(f"cannot record the worker count (3) in {run},") == 1, said
    assert said.count(f"cannot record the worker count (2) in {run},") == 1, said


def _dead_process() -> ProcessIdentity:
    """The identity a process had while it ran: it has exited and been reaped since."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = identity_of(child.pid)
    child.kill()
    child.wait()
    assert identity is not None
    return identity


def _run_folder(where: Path, name: str, supervisor: ProcessIdentity | None, namespace: str = "") -> Path:
    """A run folder as `serve` makes one in the temporary folder `where`, recording `supervisor` (None:
    no record) in `namespace` (this process's by default)."""
    folder = where / f"{RUN_FOLDER_PREFIX}{name}"
    (folder / "ready").mkdir(parents=True)
    if supervisor is not None:
        (folder / SUPERVISOR).write_text(f"{supervisor.name}\n{namespace or pid_namespace()}")
    return folder


def test_only_provably_stale_run_folders_are_removed(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A supervisor killed with SIGKILL left its run folder in the temporary folder, one every run. Only
    this user's folders whose recorded supervisor is gone are removed: not a live server's, nor the
    folder MVA_RUN_DIR names, nor one without a record (being made), of another user, or whose record
    is of another pid namespace (another container's, sharing the folder)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # Python's own setting of the folder
    dead = _dead_process()
    # gone: its pid no one's, or another process's now (this one's)
    stale = [
        _run_folder(tmp_path, "stale", dead),
        _run_folder(tmp_path, "reused-pid", ProcessIdentity(os.getpid(), dead.started)),
        _run_folder(tmp_path, "ready-folder-gone", dead),  # a /tmp cleaner took its ready/: no worker
    ]
    (stale[-1] / "ready").rmdir()
    kept = [
        _run_folder(tmp_path, "live", own_identity()),
        _run_folder(tmp_path, "named", dead),
        _run_folder(tmp_path, "unrecorded", None),
        _run_folder(tmp_path, "other-container", dead, namespace="pid:[1]"),
    ]
    if os.getuid() == 0:  # only root can give a folder to another user
        kept.append(_run_folder(tmp_path, "other-user", dead))
        os.chown(kept[-1], 65534, 65534)
    elsewhere = _run_folder(tmp_path / "elsewhere", "target", dead)
    (tmp_path / f"{RUN_FOLDER_PREFIX}link").symlink_to(elsewhere)
    monkeypatch.setenv(RUN_DIR, str(tmp_path / f"{RUN_FOLDER_PREFIX}named"))
    with shared_run_folder(2) as folder:
        assert not any(stale_folder.exists() for stale_folder in stale)
        assert all((kept_folder / "ready").is_dir() for kept_folder in kept)
        assert (elsewhere / SUPERVISOR).exists() and (tmp_path / f"{RUN_FOLDER_PREFIX}link").is_symlink()
        # the named one is this run's now, with no record: never swept, even once this server is gone
        assert folder == kept[1] and not (folder / SUPERVISOR).exists()
    monkeypatch.delenv(RUN_DIR)
    remove_stale_run_folders(keep=None)
    assert kept[1].is_dir()


@pytest.mark.parametrize("marker", ["", FAILED_SUFFIX], ids=["ready", "warm-up failed"])
def test_a_run_folder_is_kept_while_a_worker_marked_in_it_runs(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    """After a SIGKILL to the supervisor alone its workers serve on for a while (their drain on
    PDEATHSIG, uvicorn's shutdown): a new `serve` removed their folder under them (/readyz then 503,
    metrics files gone). A folder is stale only once its ready workers are gone too."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # Python's own setting of the folder
    folder = _run_folder(tmp_path, "orphaned-worker", _dead_process())
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = identity_of(worker.pid)
        assert identity is not None
        (folder / "ready" / f"{identity.name}{marker}").touch()
        remove_stale_run_folders(keep=None)
        assert (folder / "ready").is_dir()
    finally:
        worker.kill()
        worker.wait()
    remove_stale_run_folders(keep=None)
    assert not folder.exists()


def test_a_made_run_folder_it_cannot_write_in_is_not_named_as_the_variables(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MVA_RUN_DIR unset: a folder made in the temporary folder that cannot be written in (a full disk;
    here its `workers` is a folder) was reported as "MVA_RUN_DIR: cannot write in ...", a variable not
    set at all."""
    made = tmp_path / f"{RUN_FOLDER_PREFIX}full"
    (made / "workers" / "kept").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfile, "mkdtemp", lambda prefix: str(made))  # a disk that fills cannot be had
    with pytest.raises(InvalidServerSettings) as refused, shared_run_folder(2):
        pass
    said = str(refused.value)
    assert f"{RUN_DIR} unset, and the run folder made in {tmp_path}: cannot write in '{made}'" in said


def test_a_made_run_folder_records_its_supervisor(clean_env: None) -> None:
    with shared_run_folder(2) as folder:
        assert (folder / SUPERVISOR).read_text() == f"{own_identity().name}\n{pid_namespace()}"
        assert folder.name.startswith(RUN_FOLDER_PREFIX)
        remove_stale_run_folders(keep=None)  # its supervisor runs: this process
        assert folder.is_dir()


def _run_folders(where: Path) -> set[Path]:
    return set(where.glob(f"{RUN_FOLDER_PREFIX}*"))


def test_a_supervisor_killed_with_sigkill_leaves_a_folder_the_next_serve_removes(tmp_path: Path) -> None:
    """`serve --workers 2` killed with SIGKILL, its workers too, had nothing left to remove its run
    folder: every such run left one in /tmp. The next `serve --workers N` removes it, and keeps the
    folder of a server still running."""
    env = {"TMPDIR": str(tmp_path), "MVA_WARM_MODELS": "[]"}  # the servers' temporary folder: this test's
    with serve_app(env, workers=2) as (_, killed):
        (killed_folder,) = _run_folders(tmp_path)
        workers = psutil.Process(killed.pid).children(recursive=True)  # uvicorn's two, and its helpers
        assert len(workers) >= 2
        os.killpg(killed.pid, signal.SIGKILL)  # the supervisor and its workers: nobody cleans up
        killed.wait()
        psutil.wait_procs(workers, timeout=20)
        assert (killed_folder / "ready").is_dir()  # left behind
        with serve_app(env, workers=2) as (live_url, _):
            (live_folder,) = _run_folders(tmp_path) - {killed_folder}
            with serve_app(env, workers=2):
                assert not killed_folder.exists()
                assert (live_folder / "ready").is_dir() and len(_run_folders(tmp_path)) == 2
            assert _readiness(live_url) == (200, "ready")
    assert _run_folders(tmp_path) == set()  # each stopped server removed its own


def test_marks_read_from_a_ready_folder_that_cannot_be_searched_read_as_none(tmp_path: Path) -> None:
    """The supervisor asks for a starting process's marks at every check: an error other than a missing
    file (here a name too long for the file system, which Path.exists raises) reads as no mark rather
    than ending its loop; a mark that is there is found."""
    me = own_identity()
    unsearchable = Siblings(tmp_path / ("x" * 300))
    assert not unsearchable.has_marked(me)
    ready = tmp_path / "ready"
    ready.mkdir()
    (ready / me.name).touch()
    assert Siblings(ready).has_marked(me)
