"""What a server process uses, read from /proc: CPU by thread and the RSS of a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from service.bench.load import LoadResult, http_load
from service.bench.process import server_cpu, thread_cpu_s, tree_rss_mb, with_thread_cpu
from tests.conftest import LiveServer, metric

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")


def test_thread_cpu_tells_the_main_thread_from_the_others() -> None:
    spun, done = threading.Event(), threading.Event()

    def spin() -> None:  # a long-lived thread, as the server's inference threads are
        # 0.4 s of this thread's own CPU, not of wall time: on a busy host it may get less of a core
        end = time.thread_time() + 0.4
        while time.thread_time() < end:
            pass
        spun.set()
        done.wait()

    main_before, other_before = thread_cpu_s(os.getpid())
    worker = threading.Thread(target=spin)
    worker.start()
    spun.wait()  # the main thread sleeps meanwhile
    main_after, other_after = thread_cpu_s(os.getpid())
    done.set()
    worker.join()
    assert other_after - other_before >= 0.25  # clock ticks: 10 ms granularity
    assert main_after - main_before < 0.15


def test_thread_cpu_keeps_the_time_of_a_thread_that_ended_in_the_window() -> None:
    """A thread alive when the window opens and gone when it closes: its CPU must still count (summed
    over the threads alive at each reading, its whole time came off the window's figure)."""
    spun, go = threading.Event(), threading.Event()

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    def short_lived() -> None:
        spin(0.3)
        spun.set()
        go.wait()
        spin(0.3)  # in the window, then the thread ends

    worker = threading.Thread(target=short_lived)
    worker.start()
    spun.wait()
    _, other_before = thread_cpu_s(os.getpid())
    go.set()
    worker.join()
    _, other_after = thread_cpu_s(os.getpid())
    assert other_after - other_before >= 0.2  # clock ticks: 10 ms granularity


def test_server_cpu_is_per_request() -> None:
    """Per request, every request answered in the CPU windows counts (warm-up and drain too), not the
    measured windows' successes (`ok`): 0.8 s of loop over 800 answered is 1 ms, not 1.05."""
    windows = [
        {"wall": 2.0, "ok": 380, "answered": 400, "loop": 0.4, "other": 3.2},
        {"wall": 2.0, "ok": 380, "answered": 400, "loop": 0.4, "other": 3.2},
    ]
    figures = server_cpu(windows, {"bench_process_cores": 1.9, "rps": 250.0})
    assert figures == {
        "event_loop_ms_per_request": 1.0,
        "other_threads_ms_per_request": 8.0,
        "in_process_pipeline_ms_per_request": 7.6,
        "server_busy_cores": 1.8,
    }


HOLD_64_MB = "import sys, time; b = bytearray(64 << 20); print('x', flush=True); time.sleep(30)"


def test_tree_rss_counts_the_children() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_64_MB,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.read(1) == b"x"  # allocated
        assert tree_rss_mb(os.getpid()) >= 64
    finally:
        child.kill()
        child.wait()


def test_server_cpu_per_request_counts_every_request_of_the_cpu_window(
    server: LiveServer, images: Path
) -> None:
    """The server's CPU is read before and after the whole measure, warm-up and drain included: per
    request it is divided by every request answered meanwhile, which the server's own counter tells,
    not by the measured window's alone (with a warm-up twice the window, that tripled the figure)."""
    image = (images / "cat.bmp").read_bytes()
    windows: list[dict[str, float]] = []

    def load(seconds: float) -> LoadResult:
        return http_load(server.url, "/classify", {}, image, "image/bmp", 2, seconds, 0.6)

    def served() -> float:
        return metric(client.get("/metrics").text, "mva_requests_total", route="/classify", status="200")

    with server.client() as client:
        before = served()
        result = with_thread_cpu(load, server.process.pid, windows)(0.3)
        # the server counts a request once its answer is sent: the last ones may not be counted yet
        deadline = time.monotonic() + 30
        while served() - before < windows[0]["answered"] and time.monotonic() < deadline:
            time.sleep(0.05)
        answered = served() - before
    # the warm-up's requests are in it; what server_cpu divides by it: test_server_cpu_is_per_request
    assert windows[0]["answered"] == answered > result.ok
