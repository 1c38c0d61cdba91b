"""web/build.mjs, run by node in a scratch copy of web/: the brotli and gzip copies it keeps by
content hash go where MVA_WEB_CACHE says, else into web/node_modules/.cache/precompressed as before."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from service.settings import PROJECT_ROOT

NODE = shutil.which("node")
WEB = PROJECT_ROOT / "web"
DEFAULT_CACHE = Path("node_modules", ".cache", "precompressed")
PACKAGES = ("onnxruntime-web", "swagger-ui-dist")  # what build.mjs copies from node_modules


def scratch_web(root: Path, seed_default: bool = True) -> Path:
    """A copy of web/ at `root` to build in (its dist/ and node_modules/.cache are its own), the npm
    packages linked from this checkout's, its default cache seeded (unless the build is to use another),
    and one page file of its own, over the size worth compressing, whose copies no cache can hold yet."""
    web = root / "web"
    shutil.copytree(WEB / "src", web / "src")
    for name in ("build.mjs", "package.json", "package-lock.json"):
        shutil.copy(WEB / name, web / name)
    (web / "node_modules").mkdir()
    for package in PACKAGES:
        (web / "node_modules" / package).symlink_to(WEB / "node_modules" / package)
    if seed_default:
        seed(web / DEFAULT_CACHE)
    (web / "src" / "unique.js").write_text(f"// {uuid.uuid4()}\n" + "// padding\n" * 200)
    return web


def seed(cache: Path) -> None:
    """The copies this checkout's builds have kept, into `cache`: keyed by content, they are right for
    any build, and spare it the wasm binaries' minutes at brotli's best."""
    kept = WEB / DEFAULT_CACHE
    if kept.is_dir():
        shutil.copytree(kept, cache, copy_function=_link_or_copy)


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where the two folders share a filesystem (the wasm copies are tens of MB), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def build(web: Path, cwd: Path | None = None, **env: str) -> None:
    """node runs web/build.mjs from `cwd` (web/ itself unless given)."""
    assert NODE is not None
    environ = {k: v for k, v in os.environ.items() if k != "MVA_WEB_CACHE"}
    script = str(web / "build.mjs")
    subprocess.run([NODE, script], cwd=cwd or web, env={**environ, **env}, check=True, timeout=900)


def copies_of(web: Path, name: str) -> list[str]:
    digest = hashlib.sha256((web / "src" / name).read_bytes()).hexdigest()
    return [f"{digest}.br", f"{digest}.gz"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_cache_goes_where_mva_web_cache_says(tmp_path: Path) -> None:
    web = scratch_web(tmp_path, seed_default=False)
    chosen = tmp_path / "chosen cache"
    seed(chosen)
    build(web, MVA_WEB_CACHE=str(chosen))
    wanted = copies_of(web, "unique.js")
    assert all((chosen / key).is_file() for key in wanted), sorted(os.listdir(chosen))
    assert not any((web / DEFAULT_CACHE / key).exists() for key in wanted)
    # what the build serves is what the chosen cache holds
    assert (web / "dist" / "unique.js.br").read_bytes() == (chosen / wanted[0]).read_bytes()


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_without_a_setting_the_cache_stays_in_node_modules(tmp_path: Path) -> None:
    web = scratch_web(tmp_path)
    build(web)
    assert all((web / DEFAULT_CACHE / key).is_file() for key in copies_of(web, "unique.js"))


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_relative_mva_web_cache_is_taken_from_web_wherever_node_runs(tmp_path: Path) -> None:
    """As the README says: from web/, also when node runs the build from elsewhere (it was the folder
    node ran in: the same only for `make web` and `npm run build`, which run in web/)."""
    web = scratch_web(tmp_path, seed_default=False)
    seed(web / "relative-cache")
    build(web, cwd=tmp_path, MVA_WEB_CACHE="relative-cache")
    assert not (tmp_path / "relative-cache").exists()
    assert all((web / "relative-cache" / key).is_file() for key in copies_of(web, "unique.js"))
