"""`make serve` takes its address from HOST / PORT, and from MVA_HOST / MVA_PORT as `serve` itself does:
`MVA_PORT=9000 make serve` served on 8000 (the Makefile passed --port 8000, which wins over MVA_PORT)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service.settings import PROJECT_ROOT


def serve_line(env: dict[str, str]) -> str:
    """The serve command `make serve` would run (`make -n`: printed, not run)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "MVA_HOST", "MVA_PORT")}
    printed = subprocess.run(
        ["make", "-n", "serve"], cwd=PROJECT_ROOT, env=clean | env, capture_output=True, text=True, check=True
    ).stdout
    return next(line for line in printed.splitlines() if " serve --host " in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize(
    ("env", "address"),
    [
        ({}, "--host 127.0.0.1 --port 8000"),
        ({"MVA_PORT": "9100", "MVA_HOST": "0.0.0.0"}, "--host 0.0.0.0 --port 9100"),
        ({"PORT": "9200", "MVA_PORT": "9100"}, "--host 127.0.0.1 --port 9200"),
    ],
)
def test_make_serve_listens_where_the_variables_say(env: dict[str, str], address: str) -> None:
    assert serve_line(env).endswith(address)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_image_pictures_are_copied_whatever_kinds_a_folder_has(tmp_path: Path) -> None:
    """`make image` fills docker/images from IMAGES: a folder without a .jpg (or .bmp) failed, and PNGs,
    which the Dockerfile verifies on too, were left out, and so were .jpeg and upper-case names, which
    the model build reads as well. Other files stay out."""
    source, dest = tmp_path / "pictures", tmp_path / "context"
    source.mkdir()
    dest.mkdir()
    for name in ("cat.bmp", "cat.png", "bird.jpeg", "FACE.JPG", "notes.txt"):
        (source / name).write_bytes(b"x")
    subprocess.run(
        ["make", "-s", "docker-images", f"IMAGES={source}", f"DOCKER_IMAGES={dest}"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in dest.iterdir()) == ["FACE.JPG", "bird.jpeg", "cat.bmp", "cat.png"]
