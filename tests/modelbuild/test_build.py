from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout, sha256_of
from service.manifest import Manifest
from service.modelbuild.build import build_all, up_to_date
from service.modelbuild.verify import VerificationError, sample_names
from tests.conftest import damaged_locks


def test_second_build_is_a_no_op(layout: ArtifactLayout, images: Path) -> None:
    onnx_path = layout.onnx("mobilenet_v2", "int8")
    before = onnx_path.stat().st_mtime_ns
    lock_before = layout.lock.stat().st_mtime_ns
    messages: list[str] = []
    build_all(layout, mirror=None, images=images, only=["mobilenet_v2"], log=messages.append)
    assert messages == ["mobilenet_v2: up to date"]
    assert onnx_path.stat().st_mtime_ns == before
    assert layout.lock.stat().st_mtime_ns == lock_before  # lock.json not rewritten either


def test_each_browser_model_file_has_a_gzip_copy_in_the_lock(layout: ArtifactLayout) -> None:
    lock = layout.read_lock()["models"]
    for model, precision in (("mobilenet_v2", "int8"), ("mobilenet_v2", "fp32"), ("blazeface_short", "fp32")):
        onnx_path = layout.onnx(model, precision)
        gz = onnx_path.with_name(onnx_path.name + ".gz")
        assert gzip.decompress(gz.read_bytes()) == onnx_path.read_bytes()
        assert gz.stat().st_size < 0.8 * onnx_path.stat().st_size
        assert lock[model]["files"][gz.name] == sha256_of(gz)


def test_a_model_left_out_by_only_after_a_tool_change_is_not_taken_for_up_to_date(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    build_all(own_layout, mirror, images=None, only=["short", "full"], log=lambda _: None)
    # as if both had been built by an older converter
    lock = own_layout.read_lock()
    lock["tools"]["converter_revision"] = "0"
    own_layout.write_lock(lock)
    messages: list[str] = []
    build_all(own_layout, mirror, images=None, only=["short"], log=messages.append)
    assert "blazeface_short: up to date" not in messages
    messages.clear()
    build_all(own_layout, mirror, images=None, only=["short", "full"], log=messages.append)
    assert "blazeface_short: up to date" in messages
    assert "blazeface_full: up to date" not in messages  # rebuilt with today's converter
    messages.clear()
    build_all(own_layout, mirror, images=None, only=["short", "full"], log=messages.append)
    assert messages == ["blazeface_short: up to date", "blazeface_full: up to date"]


def test_a_lock_file_cut_short_means_a_rebuild_not_a_traceback(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    whole = own_layout.lock.read_text()
    own_layout.lock.write_text(whole[: len(whole) // 2])
    messages: list[str] = []
    build_all(own_layout, mirror, images=None, only=["short"], log=messages.append)
    assert messages[0].startswith(f"{own_layout.lock} cannot be read (")
    assert "blazeface_short: up to date" not in messages
    assert own_layout.read_lock()["models"]["blazeface_short"]["files"]
    assert sorted(p.name for p in own_layout.build_dir.iterdir()) == ["blazeface_short", "lock.json"]


def test_a_lock_of_a_wrong_shape_means_a_rebuild_not_a_traceback(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    """A lock hand-edited to a shape with a wrong part inside (`"models": []`, "verification": null...)
    was an AttributeError in build_all or up_to_date, a traceback from `models build`: now what a lock
    cut short is."""
    build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    for where, lock in damaged_locks(own_layout.read_lock(), "blazeface_short").items():
        own_layout.lock.write_text(json.dumps(lock))
        messages: list[str] = []
        build_all(own_layout, mirror, images=None, only=["short"], log=messages.append)
        assert messages[0] == f"{own_layout.lock} cannot be read ({where}): building as if there were none"
        assert "blazeface_short: up to date" not in messages
        assert own_layout.read_lock()["models"]["blazeface_short"]["files"]


def test_a_model_that_fails_verification_leaves_the_served_files_as_they_were(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    served = {p.name: sha256_of(p) for p in own_layout.model_dir("blazeface_short").iterdir()}
    lock = own_layout.lock.read_text()
    # a tolerance the conversion cannot meet (it measures ~1e-4)
    manifest = json.loads(own_layout.manifest.read_text())
    manifest["models"]["blazeface_short"]["verify"]["fp32_max_abs"] = 1e-9
    own_layout.manifest.write_text(json.dumps(manifest))
    with pytest.raises(VerificationError, match="exceeds tolerance 1e-09"):
        build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    assert {p.name: sha256_of(p) for p in own_layout.model_dir("blazeface_short").iterdir()} == served
    assert sorted(p.name for p in own_layout.build_dir.iterdir()) == ["blazeface_short", "lock.json"]
    assert own_layout.lock.read_text() == lock


def test_a_new_source_that_fails_leaves_the_served_source_as_it_was(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    """A source bumped in the manifest was fetched over the served source.tflite before its conversion
    was verified: when that failed, the server ran the new tflite on LiteRT beside the previous ONNX
    files (and would have named classes from new labels). The build's inputs are staged too."""
    build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    served = {p.name: sha256_of(p) for p in own_layout.model_dir("blazeface_short").iterdir()}
    manifest = json.loads(own_layout.manifest.read_text())
    # another model (192x192) where the entry says 128x128: refused before converting
    manifest["models"]["blazeface_short"]["source"] = manifest["models"]["blazeface_full"]["source"]
    own_layout.manifest.write_text(json.dumps(manifest))
    with pytest.raises(VerificationError, match="takes input 1x192x192x3"):
        build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    assert {p.name: sha256_of(p) for p in own_layout.model_dir("blazeface_short").iterdir()} == served
    assert sorted(p.name for p in own_layout.build_dir.iterdir()) == ["blazeface_short", "lock.json"]


def test_a_model_built_before_another_fails_is_recorded_in_the_lock(
    own_layout: ArtifactLayout, mirror: Path
) -> None:
    # a tolerance the conversion of the full-range model cannot meet (it measures ~1e-4)
    manifest = json.loads(own_layout.manifest.read_text())
    manifest["models"]["blazeface_full"]["verify"]["fp32_max_abs"] = 1e-9
    own_layout.manifest.write_text(json.dumps(manifest))
    with pytest.raises(VerificationError, match="exceeds tolerance 1e-09"):
        build_all(own_layout, mirror, images=None, only=["short", "full"], log=lambda _: None)
    # blazeface_short was built and is served: the lock names its files, and it is not built again
    files = own_layout.read_lock()["models"]["blazeface_short"]["files"]
    assert files == {name: sha256_of(own_layout.model_dir("blazeface_short") / name) for name in files}
    assert "blazeface_full" not in own_layout.read_lock()["models"]
    messages: list[str] = []
    build_all(own_layout, mirror, images=None, only=["short"], log=messages.append)
    assert messages == ["blazeface_short: up to date"]


def test_an_int8_signed_file_left_unverified_makes_the_lock_stale_on_a_vnni_host(
    own_layout: ArtifactLayout, mirror: Path, manifest: Manifest
) -> None:
    """int8-signed.onnx is verified only where the CPU has VNNI, the only CPU the server runs it on. A
    lock written on a host without (a models folder shared, copied or baked into an image) must not
    pass for up to date on a host with VNNI: its server would run the file never verified. The build
    asks about this host's CPU; both kinds are asked here, whichever this one is."""
    build_all(own_layout, mirror, images=None, only=["mobilenet_v2"], log=lambda _: None)
    entry = own_layout.read_lock()["models"]["mobilenet_v2"]
    # as written on a host without VNNI (this one, or not)
    entry["verification"]["int8-signed"] = {"skipped": "no VNNI on the build host"}
    spec, noise = manifest.get("mobilenet_v2"), sample_names(None)
    assert up_to_date(own_layout, spec, entry, vnni=False, verify_on=noise)
    assert not up_to_date(own_layout, spec, entry, vnni=True, verify_on=noise)
    # verified (on a VNNI host): up to date on both kinds
    entry["verification"]["int8-signed"] = entry["verification"]["int8"]
    assert up_to_date(own_layout, spec, entry, vnni=True, verify_on=noise)
    assert up_to_date(own_layout, spec, entry, vnni=False, verify_on=noise)


def test_pictures_asked_for_after_a_build_on_noise_are_verified_on(
    own_layout: ArtifactLayout, mirror: Path, images: Path, tmp_path: Path
) -> None:
    """verified_on says what the files were verified on. A build given --images after one on seeded
    noise (no pictures at hand then) verifies on the pictures: taken for up to date, it would keep the
    noise figures for good. The same pictures again: up to date."""
    build_all(own_layout, mirror, images=None, only=["short"], log=lambda _: None)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for name in ("face.jpg", "cat.bmp"):
        shutil.copy(images / name, pictures / name)
    messages: list[str] = []
    build_all(own_layout, mirror, images=pictures, only=["short"], log=messages.append)
    assert "blazeface_short: up to date" not in messages
    entry = own_layout.read_lock()["models"]["blazeface_short"]
    assert entry["verified_on"] == ["cat.bmp", "face.jpg"]
    assert set(entry["verification"]["fp32"]["images"]) == {"cat.bmp", "face.jpg"}
    messages.clear()
    build_all(own_layout, mirror, images=pictures, only=["short"], log=messages.append)
    assert messages == ["blazeface_short: up to date"]
    # no pictures asked for: the verification on pictures stands (noise would check less)
    messages.clear()
    build_all(own_layout, mirror, images=None, only=["short"], log=messages.append)
    assert messages == ["blazeface_short: up to date"]
    assert own_layout.read_lock()["models"]["blazeface_short"]["verified_on"] == ["cat.bmp", "face.jpg"]
