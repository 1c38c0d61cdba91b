from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout, sha256_of
from service.manifest import Manifest
from service.modelbuild.fetch import FetchError
from service.modelbuild.mirror import fill_mirror, url_sources


@pytest.fixture
def source_mirror(layout: ArtifactLayout, manifest: Manifest, tmp_path: Path) -> Path:
    """A mirror folder made from the built artifacts, under the manifest's file names."""
    folder = tmp_path / "source"
    folder.mkdir()
    spec = manifest.get("mobilenet_v2")
    assert spec.labels is not None
    shutil.copy(layout.tflite(spec.name), folder / spec.source.filename)
    shutil.copy(layout.labels(spec.name), folder / spec.labels.filename)
    return folder


def test_url_sources_are_the_files_not_in_a_registry(manifest: Manifest) -> None:
    names = {s.filename for s in url_sources(manifest)}
    assert names == {"mobilenet_v2_1.0_224_quant.tflite", "imagenet_labels.txt"}


def test_fill_mirror_copies_every_url_file_checked(
    manifest: Manifest, source_mirror: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "docker-mirror"
    written = fill_mirror(manifest, dest, source_mirror, log=lambda _: None)
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in written)
    for source in url_sources(manifest):
        assert sha256_of(dest / source.filename) == source.sha256


def test_fill_mirror_refuses_a_corrupt_source(
    manifest: Manifest, source_mirror: Path, tmp_path: Path
) -> None:
    (source_mirror / "imagenet_labels.txt").write_text("background\n")
    with pytest.raises(FetchError, match="checksum mismatch"):
        fill_mirror(manifest, tmp_path / "docker-mirror", source_mirror, log=lambda _: None)
