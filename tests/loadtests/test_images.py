from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from loadtests.expectations import KNOWN_ANSWERS, answer_for, check_classify
from loadtests.images import image_paths, load_uploads, packaged_images


def test_folder_option_takes_only_images(tmp_path: Path, images: Path) -> None:
    shutil.copy(images / "cat.bmp", tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in image_paths(tmp_path)] == ["cat.bmp"]


def test_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no images"):
        image_paths(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_paths(tmp_path / "missing")
    picture = tmp_path / "cat.bmp"
    picture.write_bytes(b"BM")
    with pytest.raises(FileNotFoundError, match=r"cat\.bmp is a file, not a folder"):
        image_paths(picture)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_defaults_include_the_picture_shipped_with_matplotlib() -> None:
    assert [p.name for p in packaged_images()] == ["grace_hopper.jpg"]
    assert "grace_hopper.jpg" in [p.name for p in image_paths(None)]


def test_uploads_are_multipart_bodies_with_the_file(images: Path) -> None:
    [upload] = load_uploads([images / "bird.bmp"])
    assert upload.content_type.startswith("multipart/form-data; boundary=")
    assert b'name="image"; filename="bird.bmp"' in upload.body
    assert (images / "bird.bmp").read_bytes() in upload.body


def test_folder_option_takes_every_format_the_service_accepts(
    tmp_path: Path, images: Path, client: httpx.Client
) -> None:
    """A folder of TIFF or AVIF pictures is a folder of images: the service answers them."""
    for source, name in (
        ("cat.bmp", "cat.tif"),
        ("cat_720p.jpg", "cat_720p.tiff"),
        ("bird.bmp", "bird.avif"),
    ):
        Image.open(images / source).save(tmp_path / name)
    paths = image_paths(tmp_path)
    assert [p.name for p in paths] == ["bird.avif", "cat.tif", "cat_720p.tiff"]
    for upload in load_uploads(paths):
        response = client.post(
            "/classify", content=upload.body, headers={"Content-Type": upload.content_type}
        )
        assert response.status_code == 200, response.text
        assert check_classify(response.json(), answer_for(KNOWN_ANSWERS, upload.name)) is None
