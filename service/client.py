"""Client side of the CLI: post an image to a running service (httpx) and render the answer (rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from rich.table import Table


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {})
        super().__init__(f"{status} {error.get('code', 'error')}: {error.get('message', body)}")


def post_image(url: str, path: str, image: Path, params: dict[str, object]) -> dict[str, Any]:
    query = {k: v for k, v in params.items() if v is not None}
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post(path, params=query, files={"image": (image.name, image.read_bytes())})
    body = response.json()
    if response.status_code != 200:
        raise ApiError(response.status_code, body)
    return body


def timing_table(body: dict[str, Any]) -> Table:
    s = body["settings"]
    table = Table(
        title=f"timing (ms) - {s['engine']} {s['precision']} kernels={s['kernels']} threads={s['threads']}"
    )
    for stage in body["timing"]:
        table.add_column(stage, justify="right")
    table.add_row(*(f"{v:.2f}" for v in body["timing"].values()))
    return table


def predictions_table(body: dict[str, Any], title: str) -> Table:
    table = Table(title=f"{title}: {body['model']}")
    table.add_column("label")
    table.add_column("score", justify="right")
    for p in body["predictions"]:
        table.add_row(p["label"], f"{p['score']:.3f}")
    return table


def faces_table(body: dict[str, Any], title: str) -> Table:
    table = Table(title=f"{title}: {len(body['faces'])} face(s), {body['model']}")
    corners = ("x_min", "y_min", "x_max", "y_max")
    for column in ("score", *corners):
        table.add_column(column, justify="right")
    for face in body["faces"]:
        table.add_row(f"{face['score']:.3f}", *(f"{face['box'][k]:.0f}" for k in corners))
    return table
