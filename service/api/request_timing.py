"""A request's stage timer on the request itself (`request.state`): started by the inference path,
read by the error handlers (the stages an error answer went through, in Server-Timing) and, closed,
by the metrics middleware (service/api/middleware.py). Apart from service/api/inference.py, so that
the error handlers need not import the request path."""

from __future__ import annotations

from starlette.requests import Request

from service.timing import StageTimer, server_timing_header


def start_timer(request: Request) -> StageTimer:
    """The request's stage timer, kept on the request: an error from here on still reports, in
    Server-Timing, the stages the request went through (service/api/errors.py: timing_so_far)."""
    timer = StageTimer()
    request.state.stage_timer = timer
    return timer


def timing_so_far(request: Request) -> dict[str, str]:
    """The Server-Timing header of an error answer, when the request's timer had started. Not the
    stage histograms: they describe answered requests, and a stage never reached is no 0 ms."""
    timer: StageTimer | None = getattr(request.state, "stage_timer", None)
    return {} if timer is None else {"Server-Timing": server_timing_header(timer.so_far())}


def finish_timing(request: Request, timer: StageTimer) -> tuple[dict[str, float], dict[str, str]]:
    """Close the timer. Returns the figures and the Server-Timing header; the stage histograms observe
    the figures once the response is sent (service/api/middleware.py), off the client's wait."""
    timing = timer.finish()
    request.state.stage_timing = timing
    return timing, {"Server-Timing": server_timing_header(timing)}
