"""The images load-test users send: a folder of the user's choice, or by default pictures that ship inside
pip packages (matplotlib's grace_hopper.jpg) plus the project's ../shared/images when present."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from urllib3 import encode_multipart_formdata

# the formats the service accepts (service/imaging/decode.py ACCEPTED_FORMATS)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".avif")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = PROJECT_ROOT.parent / "shared" / "images"


@dataclass(frozen=True)
class UploadImage:
    """One picture, encoded once as the multipart body every request reuses."""

    name: str
    body: bytes
    content_type: str


def packaged_images() -> list[Path]:
    """Sample pictures inside installed pip packages (no download at run time)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return []
    hopper = Path(spec.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return [hopper] if hopper.is_file() else []


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def default_image_paths() -> list[Path]:
    shared = images_in(SHARED_IMAGES) if SHARED_IMAGES.is_dir() else []
    return packaged_images() + shared


def image_paths(folder: str | Path | None) -> list[Path]:
    """The folder's images when one is given, else the defaults; never empty."""
    if folder:
        folder = Path(folder)
        if not folder.is_dir():  # a picture given as the folder exists: "does not exist" would mislead
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise FileNotFoundError(f"image folder {folder} {what}")
        paths = images_in(folder)
    else:
        paths = default_image_paths()
    if not paths:
        where = folder or f"matplotlib's sample data or {SHARED_IMAGES}"
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {where}")
    return paths


def load_uploads(paths: list[Path], field: str = "image") -> list[UploadImage]:
    uploads = []
    for path in paths:
        body, content_type = encode_multipart_formdata({field: (path.name, path.read_bytes())})
        uploads.append(UploadImage(name=path.name, body=body, content_type=content_type))
    return uploads
