"""Which int8 file onnxruntime runs, decided for both kinds of CPU whichever this one is: `vnni` is a
parameter, the lock files are the real one as a build with or without VNNI writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.artifacts import ArtifactLayout
from service.engines.int8_file import UnreadableLock, int8_file, signed_int8_unverified
from tests.conftest import damaged_locks, models_with_int8_signed


def test_auto_runs_int8_signed_only_where_the_cpu_has_vnni_and_the_build_verified_it(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A models folder built on a host without VNNI and served on one with it (an image built on one
    node, run on another) ran int8-signed.onnx, never verified."""
    unverified = models_with_int8_signed(layout, tmp_path / "unverified", verified=False)
    chosen = int8_file(unverified, "mobilenet_v2", "auto", vnni=True)
    assert chosen.path == unverified.onnx("mobilenet_v2", "int8")
    assert chosen.held_back
    assert "mobilenet_v2/int8-signed.onnx was not verified (the build skipped it: no VNNI" in chosen.why
    assert "`mobile-vision-api models build` on a host with VNNI" in chosen.why

    verified = models_with_int8_signed(layout, tmp_path / "verified", verified=True)
    chosen = int8_file(verified, "mobilenet_v2", "auto", vnni=True)
    assert chosen.path == verified.onnx_signed_int8("mobilenet_v2") and not chosen.held_back
    # without VNNI int8.onnx, verified or not: the u8 x s8 kernels can saturate there
    for folder in (unverified, verified):
        chosen = int8_file(folder, "mobilenet_v2", "auto", vnni=False)
        assert chosen.path == folder.onnx("mobilenet_v2", "int8") and not chosen.held_back
        assert chosen.why.startswith("this CPU has no VNNI")


@pytest.mark.parametrize("vnni", [True, False])
def test_a_setting_by_name_picks_its_file_whatever_the_lock_says(
    layout: ArtifactLayout, tmp_path: Path, vnni: bool
) -> None:
    """`signed` unverified never gets this far in the server: ServerSettings refuses it at start-up."""
    unverified = models_with_int8_signed(layout, tmp_path, verified=False)
    signed = int8_file(unverified, "mobilenet_v2", "signed", vnni)
    assert signed.as_dict() == {"file": "int8-signed.onnx", "why": "MVA_ORT_INT8_WEIGHTS=signed"}
    assert int8_file(unverified, "mobilenet_v2", "unsigned", vnni).path.name == "int8.onnx"


def test_a_lock_that_says_nothing_trustworthy_is_no_verification(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    own = models_with_int8_signed(layout, tmp_path, verified=True)
    assert signed_int8_unverified(own, "mobilenet_v2") is None
    # the lock as the caller read it, not the file (/v1/models reads it once per request)
    assert signed_int8_unverified(own, "mobilenet_v2", {"models": {}}) == (
        "lock.json has no entry for mobilenet_v2: the models are not built"
    )
    text = own.lock.read_text()
    own.lock.write_text(text[: len(text) // 2])  # cut short: a copy interrupted, a hand edit
    why = signed_int8_unverified(own, "mobilenet_v2")
    assert why is not None and why.startswith("lock.json cannot be read (")
    assert int8_file(own, "mobilenet_v2", "auto", vnni=True).path.name == "int8.onnx"
    own.lock.unlink()
    assert int8_file(own, "mobilenet_v2", "auto", vnni=True).path.name == "int8.onnx"


def test_a_lock_of_a_wrong_shape_on_a_vnni_host_is_no_verification(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A lock that verified int8-signed.onnx, hand-edited to a shape with a wrong part inside: this was
    an AttributeError at server start-up on a VNNI host (or int8-signed.onnx run on a lock whose
    figures are gone); now int8.onnx, and why."""
    own = models_with_int8_signed(layout, tmp_path, verified=True)
    whole = own.read_lock()
    for where, lock in damaged_locks(whole, "mobilenet_v2").items():
        own.lock.write_text(json.dumps(lock))
        assert signed_int8_unverified(own, "mobilenet_v2") == f"lock.json cannot be read ({where})"
        chosen = int8_file(own, "mobilenet_v2", "auto", vnni=True)
        assert chosen.path == own.onnx("mobilenet_v2", "int8") and chosen.held_back, where
        assert f"(lock.json cannot be read ({where}))" in chosen.why


def test_a_lock_the_caller_could_not_read_is_not_read_again(layout: ArtifactLayout, tmp_path: Path) -> None:
    """/v1/models reads lock.json once a request; when that read failed, int8_files read the file a
    second time (on a VNNI host) to learn the same. The caller's reason is used as it is: here the
    file on disk is whole and verified, so a second read would have chosen int8-signed.onnx."""
    own = models_with_int8_signed(layout, tmp_path, verified=True)
    failed = UnreadableLock("lock.json cannot be read (cut short)")
    assert signed_int8_unverified(own, "mobilenet_v2", failed) == failed.why
    chosen = int8_file(own, "mobilenet_v2", "auto", vnni=True, lock=failed)
    assert chosen.path == own.onnx("mobilenet_v2", "int8") and chosen.held_back
    assert f"({failed.why})" in chosen.why
    assert int8_file(own, "mobilenet_v2", "auto", vnni=True).path.name == "int8-signed.onnx"
