from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from service.api.errors import error_response
from service.api.inference import state_of
from service.api.schemas import ErrorResponse

log = logging.getLogger("mobile_vision_api")

router = APIRouter(tags=["health"])


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    summary="Readiness: models loaded and warmed, not shutting down",
    responses={503: {"model": ErrorResponse, "description": "not ready (warming up, failed, shutting down)"}},
)
async def readyz(request: Request) -> Response:
    state = state_of(request)
    if not state.accepting:
        reason = "shutting down" if state.shutting_down.is_set() else state.not_ready_reason
        return error_response(503, "not_ready", reason, headers={"Retry-After": "2"})
    # with several worker processes, ready means all of them: a probe reaches only one (reading a
    # handful of names in a folder on the temp filesystem: no need to leave the loop)
    siblings = state.siblings
    if siblings is not None:
        if siblings.draining():
            return error_response(503, "not_ready", "shutting down", headers={"Retry-After": "2"})
        try:
            waiting, expected = siblings.waiting_for()
        except (OSError, ValueError) as exc:  # the run folder's count removed or damaged (a /tmp cleaner)
            log.warning("/readyz: cannot read the worker count: %s", exc)
            reason = "the run folder's worker count cannot be read"
            return error_response(503, "not_ready", reason, headers={"Retry-After": "2"})
        if waiting:
            failed = min(waiting, siblings.failed_now())
            reasons = []
            if failed:
                reasons.append(f"{failed} of {expected} worker processes failed their warm-up (see the log)")
            if waiting > failed:
                reasons.append(f"{waiting - failed} of {expected} worker processes still warming up")
            reason = "; ".join(reasons)
            return error_response(503, "not_ready", reason, headers={"Retry-After": "2"})
    return Response('{"status":"ready"}', media_type="application/json")


@router.head("/metrics", include_in_schema=False)
@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type="text/plain; version=0.0.4")
