"""The browser page (`/`), its scripts and onnxruntime-web's wasm (`/web/...`, from settings.static_dir,
built by `make web`), and the ONNX files the server runs (`/models/<model>/<precision>.onnx`), so the
page runs the very same model files in the browser; for its WebGL backend, which cannot run a symbolic
batch, the fp32 graph with the batch fixed at 1 (`/models/<model>/fp32-batch1.onnx`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from service.api.inference import state_of
from service.api.schemas import ErrorResponse
from service.api.static import ETags, file_response, inside
from service.errors import ServiceError, UnknownModel
from service.manifest import ModelSpec, Precision

router = APIRouter(tags=["browser page"])
ETAGS = ETags()


class PageNotBuilt(ServiceError):
    status, code = 404, "not_found"


async def _page_file(request: Request, relative: str) -> Response:
    folder = state_of(request).settings.static_dir
    path = inside(folder, relative)
    if path is None:
        hint = " (run `make web` to build the page)" if not (folder / "index.html").is_file() else ""
        raise PageNotBuilt(f"no page file {relative!r}{hint}", field="path")
    return await file_response(request, path, ETAGS)


@router.head("/", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def page(request: Request) -> Response:
    return await _page_file(request, "index.html")


@router.head("/web", include_in_schema=False)
@router.get("/web", include_in_schema=False)
@router.head("/web/", include_in_schema=False)
@router.get("/web/", include_in_schema=False)
async def page_folder(request: Request) -> RedirectResponse:
    # the page's files live under /web/, the page itself at `/`: a visitor who types the folder wanted
    # the page (it was a 404, "no page file ''"); absolute, as Starlette's own slash redirects are
    return RedirectResponse(request.url.replace(path="/"), status_code=307)


@router.head("/web/{relative:path}", include_in_schema=False)
@router.get("/web/{relative:path}", include_in_schema=False)
async def page_file(request: Request, relative: str) -> Response:
    return await _page_file(request, relative)


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    206: {"description": "the byte ranges asked for (`Range`; a resumed download)"},
    304: {"description": "not modified"},
    412: {"model": ErrorResponse, "description": "not the version If-Match or If-Unmodified-Since names"},
    416: {"model": ErrorResponse, "description": "no range asked for is in the file"},
}


FIXED_BATCH = "/models/{model}/{precision}-batch1.onnx"


@router.head("/models/{model}/{precision}.onnx", include_in_schema=False)
@router.get(
    "/models/{model}/{precision}.onnx",
    summary="The ONNX file the server runs, for the browser (ETag; If-None-Match -> 304)",
    response_class=Response,
    responses=FILE_RESPONSES,
)
# registered first (decorators apply from the bottom): the route above would take "fp32-batch1" for
# {precision}, and refuse it
@router.head(FIXED_BATCH, include_in_schema=False)
@router.get(
    FIXED_BATCH,
    summary="The same graph with the batch fixed at 1, for onnxruntime-web's WebGL backend (fp32 only)",
    response_class=Response,
    responses=FILE_RESPONSES,
)
async def model_file(request: Request, model: str, precision: Precision) -> Response:
    fixed_batch = request.scope["route"].path == FIXED_BATCH
    spec = _known_model(request, model)
    if precision not in spec.precisions:
        raise UnknownModel(f"{spec.name} comes in {', '.join(spec.precisions)}", field="precision")
    if fixed_batch and precision != "fp32":  # the model build writes no other: WebGL has no int8 kernels
        raise UnknownModel(f"the batch-1 graph of {spec.name} comes in fp32 only", field="precision")
    layout = state_of(request).layout
    path = layout.onnx_fixed_batch(spec.name, precision) if fixed_batch else layout.onnx(spec.name, precision)
    if not path.is_file():
        raise UnknownModel(f"{spec.name} {path.name} is not built (run `make models`)", field="model")
    return await file_response(request, path, ETAGS)


@router.head("/models/{model}/labels.txt", include_in_schema=False)
@router.get(
    "/models/{model}/labels.txt",
    summary="The class labels of a classification model",
    response_class=Response,
    responses={**FILE_RESPONSES, 200: {"content": {"text/plain": {}}}},
)
async def labels_file(request: Request, model: str) -> Response:
    spec = _known_model(request, model)
    path = state_of(request).layout.labels(spec.name)
    if spec.labels is None or not path.is_file():
        raise UnknownModel(f"{spec.name} has no labels", field="model")
    return await file_response(request, path, ETAGS)


def _known_model(request: Request, model: str) -> ModelSpec:
    """By manifest name or alias only: the URL never names a path."""
    manifest = state_of(request).manifest
    try:
        return manifest.get(model)
    except KeyError:
        raise UnknownModel(
            f"unknown model {model!r}; known: {', '.join(manifest.models)}", field="model"
        ) from None
