"""docker/web-sources.sh and web/build.mjs agree on the digest of what web/dist is built from, and it
changes with any source: the Dockerfile's web stage uses a dist/ built on the host only when they match,
so a page edited after `make web` is rebuilt in the image rather than shipped stale."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "docker" / "web-sources.sh"
WEB = PROJECT_ROOT / "web"


def digest(web: Path) -> str:
    done = subprocess.run(["sh", str(SCRIPT), str(web)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_built_page_records_the_digest_the_script_computes() -> None:
    build = WEB / "dist" / "build.json"
    if not build.exists():
        pytest.fail("web/dist is not built: run `make web`")
    # (a page edited since `make web` fails here too: run it again)
    assert json.loads(build.read_text())["sources"] == digest(WEB)


def test_any_source_changes_the_digest(tmp_path: Path) -> None:
    web = tmp_path / "web"
    shutil.copytree(WEB / "src", web / "src")
    for name in ("package-lock.json", "build.mjs"):
        shutil.copy(WEB / name, web / name)
    first = digest(web)
    assert len(first) == 64 and first == digest(WEB)  # the folder's place does not count
    seen = {first}
    for edit in (
        lambda: (web / "src" / "app.mjs").write_text((web / "src" / "app.mjs").read_text() + "// edited\n"),
        lambda: (web / "src" / "new.mjs").write_text("export {};\n"),
        lambda: (web / "package-lock.json").write_text((web / "package-lock.json").read_text() + " "),
        lambda: (web / "build.mjs").write_text((web / "build.mjs").read_text() + "\n"),
        lambda: (web / "src" / "new.mjs").rename(web / "src" / "renamed.mjs"),
    ):
        edit()
        now = digest(web)
        assert now not in seen
        seen.add(now)


def test_the_image_builds_the_page_unless_dist_matches() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    stage = dockerfile[dockerfile.index("AS web") : dockerfile.index("AS runtime")]
    assert "web-sources" in stage and '"sources\\": \\"$sources\\"' in stage and "npm run build" in stage
    assert "!docker/web-sources.sh" in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
