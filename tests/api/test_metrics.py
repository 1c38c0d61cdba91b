"""service/api/metrics.py with two worker processes (`serve --workers 2`): every scrape, whichever
process answers it, counts every request of both (prometheus_client's multiprocess files); and a scrape
meeting the files of processes that stop or died, at the moments no server can be made to hit on demand
(a child process's real files). One process: tests/api/test_models_and_health.py."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict

from service.api.metrics import MULTIPROC_DIR, Metrics, _EveryProcess, _forget_dead_processes
from service.localserver import serve_app
from service.processes import ProcessIdentity
from service.settings import PROJECT_ROOT
from service.workers import RUN_FOLDER_PREFIX, SUPERVISOR, Siblings
from tests.conftest import metric
from tests.raw_http import connect, read_to_close

MALFORMED_SENT = 10  # requests uvicorn cannot parse, each on a connection of its own


def _pids_that_served_classify(folder: Path) -> set[str]:
    """The processes whose own counter file holds a /classify request (every process has a file once
    it answered anything, e.g. a readiness probe)."""
    return {
        f.stem.removeprefix("counter_")
        for f in folder.glob("counter_*.db")
        if any(
            '"/classify"' in key and value > 0
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(f))
        )
    }


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} not in the scrape"
    return float(match.group(1))


def _classify(url: str, image: bytes) -> None:
    """One request on a new connection, so either process may take it (/readyz waited for both to warm
    up: service/workers.py)."""
    with httpx.Client(base_url=url, timeout=60) as fresh:
        response = fresh.post("/classify", files={"image": image})
    assert response.status_code == 200, response.text


def _until_counted(folder: Path, **expected: float) -> None:
    """Until the processes' own files hold each sample (by its line's name, labels included) at its
    expected value: a process counts a request after its answer is sent. The files, not a scrape: a
    scrape is a request, and would hide a process that wrote its counts only when its next request
    came. Then every scrape must show them."""
    deadline = time.monotonic() + 30
    while True:
        every_process = CollectorRegistry()
        every_process.register(_EveryProcess(folder.glob("*.db")))
        lines = set(generate_latest(every_process).decode().splitlines())
        if all(f"{name} {value:.1f}" in lines for name, value in expected.items()):
            return
        if time.monotonic() > deadline:
            return  # the caller's own assertions say what is missing
        time.sleep(0.05)


def _run_folder_of(supervisor: subprocess.Popen[bytes]) -> Path:
    """The run folder `serve` made in the temporary folder (none named): the one its supervisor file names
    this process in (its first line, read as service/workers.py reads it for stale folders)."""

    def recorded(folder: Path) -> ProcessIdentity | None:
        record = folder / SUPERVISOR
        return ProcessIdentity.from_name(record.read_text().partition("\n")[0]) if record.is_file() else None

    made = [
        folder
        for folder in Path(tempfile.gettempdir()).glob(f"{RUN_FOLDER_PREFIX}*")
        if (identity := recorded(folder)) is not None and identity.pid == supervisor.pid
    ]
    assert len(made) == 1, made
    return made[0]


CLASSIFIED = 'mva_requests_total{route="/classify",status="200"}'


def test_two_workers_scrape_as_one_service(tmp_path: Path, images: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    image = (images / "cat.bmp").read_bytes()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2) as (url, _):
        sent = 0  # answered 200
        with ThreadPoolExecutor(4) as pool:
            while len(_pids_that_served_classify(folder)) < 2 and sent < 400:  # until both answered some
                list(pool.map(lambda _: _classify(url, image), range(20)))
                sent += 20
        assert len(_pids_that_served_classify(folder)) == 2
        # answered by uvicorn's protocol, not the app (service/api/malformed_http/): in the sum too
        for _ in range(MALFORMED_SENT):
            with connect(int(url.rpartition(":")[2])) as sock:
                sock.sendall(b"NOT HTTP\r\n\r\n")
                assert read_to_close(sock).startswith(b"HTTP/1.1 400 ")

        stages_timed = 'mva_stage_seconds_count{route="/classify",stage="inference"}'
        settled = {CLASSIFIED: sent, stages_timed: sent, "mva_malformed_requests_total": MALFORMED_SENT}
        _until_counted(folder, **settled)
        for _ in range(8):  # each scrape on a new connection: both processes answer some
            with httpx.Client(base_url=url) as fresh:
                text = fresh.get("/metrics").text
            assert _sample(text, 'mva_requests_total{route="/classify",status="200"}') == sent
            assert _sample(text, 'mva_inferences_total{engine="onnxruntime",model="mobilenet_v2"}') == sent
            assert _sample(text, 'mva_stage_seconds_count{route="/classify",stage="inference"}') == sent
            assert _sample(text, "mva_queue_depth") == 0
            assert _sample(text, "mva_malformed_requests_total") == MALFORMED_SENT


def test_serve_makes_the_folder_when_none_is_given(images: Path) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, `serve --workers 2` makes one in the temp folder for the run."""
    image = (images / "cat.bmp").read_bytes()
    with serve_app({"MVA_WARM_MODELS": '["mobilenet_v2"]'}, workers=2) as (url, supervisor):
        for _ in range(20):
            _classify(url, image)
        _until_counted(_run_folder_of(supervisor) / "metrics", **{CLASSIFIED: 20})
        for _ in range(4):
            with httpx.Client(base_url=url) as fresh:
                text = fresh.get("/metrics").text
            assert _sample(text, 'mva_requests_total{route="/classify",status="200"}') == 20


def test_a_killed_process_leaves_no_queue_depth_behind(tmp_path: Path, images: Path) -> None:
    """A process killed with requests inside it (SIGKILL, the OOM killer) cannot take its share of
    mva_queue_depth away; uvicorn starts another, and the dead one's figure must not stay in the sum."""
    run = tmp_path / "run"
    image = (images / "cat.bmp").read_bytes()
    # LiteRT's reference kernels take a few hundred ms a request, on one core: three wait in turn
    env = {"MVA_RUN_DIR": str(run), "MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_INFERENCE_CORES": "1"}
    slow = {"engine": "litert", "simd": "off"}
    with serve_app(env, workers=2) as (url, _):
        victim, other = Siblings(run / "ready").marked_ready()
        depth_file = run / "metrics" / f"gauge_livesum_{victim.name}.db"

        def victims_depth() -> list[float]:
            if not depth_file.exists():
                return []
            return [value for _, value, _, _ in MmapedDict.read_all_values_from_file(str(depth_file))]

        def send_slow(_: int) -> None:
            # the victim dies under it
            with contextlib.suppress(httpx.TransportError), httpx.Client(base_url=url, timeout=60) as fresh:
                fresh.post("/classify", params=slow, files={"image": image})

        def resume_other() -> None:
            # uvicorn's supervisor kills a worker that has not answered its ping for 5 s: on a slow host
            # it may have got there first
            with contextlib.suppress(ProcessLookupError):
                os.kill(other.pid, signal.SIGCONT)

        os.kill(other.pid, signal.SIGSTOP)  # it accepts nothing: every connection reaches the victim
        try:
            with ThreadPoolExecutor(3) as pool:
                pool.map(send_slow, range(3))
                for _ in range(200):  # until the victim's file counts a request inside it
                    with httpx.Client(base_url=url) as fresh:
                        fresh.get("/metrics")
                    if any(value > 0 for value in victims_depth()):
                        break
                os.kill(victim.pid, signal.SIGKILL)
                resume_other()  # at once: a request not yet accepted would wait for it
            left = victims_depth()
            assert left and all(value > 0 for value in left)
        finally:
            resume_other()
        # no wait for uvicorn to reap the victim: a zombie counts as dead
        for _ in range(4):  # the survivor or the victim's replacement answers
            with httpx.Client(base_url=url, timeout=60) as fresh:
                assert _sample(fresh.get("/metrics").text, "mva_queue_depth") == 0


def test_a_metrics_file_not_yet_sized_does_not_fail_the_scrape(tmp_path: Path, images: Path) -> None:
    """A process creates its metrics file, then sizes it: a scrape in between read 0 bytes and failed
    whole (500, struct.error; seen in CI when uvicorn replaced a killed worker), and a process killed
    in that window leaves the empty file for good. The file here is such a leftover."""
    run = tmp_path / "run"
    env = {"MVA_RUN_DIR": str(run), "MVA_WARM_MODELS": '["mobilenet_v2"]'}
    with serve_app(env, workers=2) as (url, _):
        _classify(url, (images / "cat.bmp").read_bytes())
        _until_counted(run / "metrics", **{CLASSIFIED: 1})
        (run / "metrics" / "counter_4194303.db").touch()  # a pid no process has
        for _ in range(4):  # each scrape on a new connection: both processes answer some
            with httpx.Client(base_url=url, timeout=60) as fresh:
                scrape = fresh.get("/metrics")
            assert scrape.status_code == 200, scrape.text
            assert 'mva_requests_total{route="/classify",status="200"} 1.0' in scrape.text


def test_a_process_shows_the_requests_it_holds_to_a_scrape_another_answers(
    tmp_path: Path, images: Path
) -> None:
    """Each process wrote its queue depth to its file only when one of its requests ended or it answered
    a scrape: requests waiting in one process showed in a scrape another answered only once one had
    finished (one fewer), and never while the first of them ran, however long that took."""
    run = tmp_path / "run"
    image = (images / "cat.bmp").read_bytes()
    # one core, LiteRT's reference kernels (~130 ms a request, more for the first: it builds the
    # runner): three requests wait in turn
    env = {"MVA_RUN_DIR": str(run), "MVA_WARM_MODELS": '["mobilenet_v2"]', "MVA_INFERENCE_CORES": "1"}
    with serve_app(env, workers=2) as (url, _):
        holder, other = Siblings(run / "ready").marked_ready()
        depth_file = run / "metrics" / f"gauge_livesum_{holder.name}.db"

        def holders_depth() -> float:
            values = [value for _, value, _, _ in MmapedDict.read_all_values_from_file(str(depth_file))]
            return max(values, default=0.0)

        def send_slow() -> int:
            with httpx.Client(base_url=url, timeout=60) as fresh:
                answer = fresh.post("/classify", params={"preset": "scalar"}, files={"image": image})
            return answer.status_code

        def resume(pid: int) -> None:
            # uvicorn's supervisor kills a worker that has not answered its ping for 5 s
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

        os.kill(other.pid, signal.SIGSTOP)  # it accepts nothing: every connection reaches the holder
        try:
            with ThreadPoolExecutor(3) as pool:
                answers = [pool.submit(send_slow) for _ in range(3)]
                while holders_depth() < 3 and not all(answer.done() for answer in answers):
                    time.sleep(0.01)
                os.kill(holder.pid, signal.SIGSTOP)  # as it is: the scrape below reaches the other
                held = holders_depth()
                resume(other.pid)
                with httpx.Client(base_url=url, timeout=60) as fresh:
                    scraped = _sample(fresh.get("/metrics").text, "mva_queue_depth")
                resume(holder.pid)
                assert [answer.result() for answer in answers] == [200] * 3
        finally:
            resume(other.pid)
            resume(holder.pid)
        assert held == scraped == 3
        with httpx.Client(base_url=url, timeout=60) as fresh:  # and none once they are answered
            assert _sample(fresh.get("/metrics").text, "mva_queue_depth") == 0


# A worker process's metrics: one request answered, `argv[1]` requests held; then, on "close" from the
# test, it stops as a worker does (close()), or, at the end of its input, without (as one killed).
_WORKER = """
import sys
from service.api.metrics import Metrics
from service.processes import own_identity
metrics = Metrics()
metrics.count_request("/classify", 200)
metrics.queue_depth_changed(int(sys.argv[1]))
print(own_identity().name, flush=True)
if sys.stdin.readline() == "close\\n":
    metrics.close()
"""


class _Worker(NamedTuple):
    process: subprocess.Popen[str]
    name: str  # its identity's, which names its files (service/processes.py)


def _worker(folder: Path, held: int) -> _Worker:
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(held)],
        env={**os.environ, MULTIPROC_DIR: str(folder)},
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    name = worker.stdout.readline().strip()  # its files are written
    assert name
    return _Worker(worker, name)


def _dead_worker(folder: Path, held: int) -> str:
    """The identity's name of a worker gone without close(), its queue depth left in its file."""
    worker = _worker(folder, held)
    worker.process.communicate("")  # reaped: the pid is no process's
    assert worker.process.returncode == 0
    return worker.name


def _scrape(files: list[Path]) -> str:
    every_process = CollectorRegistry()
    every_process.register(_EveryProcess(files))
    return generate_latest(every_process).decode()


def test_two_scrapes_forgetting_the_same_dead_process_both_answer(tmp_path: Path) -> None:
    """Two scrapes at once both list a dead worker's queue-depth file: the one that removes it second
    found it gone (mark_process_dead's os.remove: FileNotFoundError, a 500)."""
    name = _dead_worker(tmp_path, held=2)
    listings = [sorted(tmp_path.glob("*.db")) for _ in range(2)]  # both listed before either removed
    assert tmp_path / f"gauge_livesum_{name}.db" in listings[0]
    first, second = (_forget_dead_processes(listing) for listing in listings)
    assert first == second and not (tmp_path / f"gauge_livesum_{name}.db").exists()
    scraped = _scrape(second)
    assert metric(scraped, "mva_requests_total", route="/classify", status="200") == 1  # counts stay
    assert "mva_queue_depth" not in scraped  # the dead worker's 2 is out of the sum


def test_a_worker_stopping_during_a_scrape_leaves_it_whole(tmp_path: Path) -> None:
    """A worker stops (close() removes its queue-depth file) after a scrape listed the folder, before it
    merged the files: prometheus_client's merge skips a live gauge's file gone (0.26.0), which this
    holds it to."""
    stopping, staying = _worker(tmp_path, held=1), _worker(tmp_path, held=2)
    try:
        listing = _forget_dead_processes(sorted(tmp_path.glob("*.db")))  # both serving: all kept
        stopping.process.communicate("close\n")
        assert tmp_path / f"gauge_livesum_{stopping.name}.db" in listing
        assert not (tmp_path / f"gauge_livesum_{stopping.name}.db").exists()
        scraped = _scrape(listing)
    finally:
        staying.process.communicate("close\n")
    assert metric(scraped, "mva_requests_total", route="/classify", status="200") == 2
    assert metric(scraped, "mva_queue_depth") == 2


def test_a_dead_process_is_forgotten_in_a_folder_named_with_glob_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mark_process_dead finds the files by glob.glob(folder + name): in a folder named with `[`, `*` or
    `?` it found none, and a killed worker's queue depth stayed in every scrape's sum."""
    folder = tmp_path / "run[1]"
    folder.mkdir()
    _dead_worker(folder, held=2)
    monkeypatch.setenv(MULTIPROC_DIR, str(folder))
    scraped = Metrics().render().decode()
    assert metric(scraped, "mva_requests_total", route="/classify", status="200") == 1
    assert "mva_queue_depth" not in scraped


def test_a_worker_stopping_in_a_folder_named_with_glob_characters_leaves_the_sum(tmp_path: Path) -> None:
    """close() removed the file with mark_process_dead, whose glob.glob(folder + name) found nothing in
    a folder named with `[`: a worker stopped cleanly left its queue depth behind."""
    folder = tmp_path / "run[1]"
    folder.mkdir()
    worker = _worker(folder, held=2)
    assert (folder / f"gauge_livesum_{worker.name}.db").exists()
    worker.process.communicate("close\n")
    assert worker.process.returncode == 0
    assert not (folder / f"gauge_livesum_{worker.name}.db").exists()
    assert (folder / f"counter_{worker.name}.db").exists()  # its counters stay


def test_the_queue_depth_of_a_dead_process_whose_pid_a_later_one_has_leaves_the_sum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed with requests inside it, its pid then given to another process (here this test's,
    live): its queue depth stayed in every scrape's sum, counted as a live process's."""
    dead = ProcessIdentity.from_name(_dead_worker(tmp_path, held=2))
    assert dead is not None and dead.started is not None
    # its start time, the pid this process has
    depth_file = tmp_path / f"gauge_livesum_{ProcessIdentity(os.getpid(), dead.started).name}.db"
    (tmp_path / f"gauge_livesum_{dead.name}.db").rename(depth_file)
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    scraped = Metrics().render().decode()
    assert metric(scraped, "mva_requests_total", route="/classify", status="200") == 1  # counts stay
    assert "mva_queue_depth" not in scraped and not depth_file.exists()


def test_a_file_named_by_no_process_does_not_fail_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.db` file without a process's identity in its name (a given folder is the caller's): reading
    one out of every file's name failed the whole scrape (IndexError, a 500)."""
    _dead_worker(tmp_path, held=2)
    (tmp_path / "notes.db").touch()
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    scraped = Metrics().render().decode()
    assert metric(scraped, "mva_requests_total", route="/classify", status="200") == 1
    assert "mva_queue_depth" not in scraped
