"""`python -m service.modelbuild`, as the Dockerfile's models stage runs it: from the part of service/
that stage copies, which is exactly what the model build imports. With all of service/ there, any code
edit re-ran the build in `docker build` (minutes: fetch, convert, verify)."""

from __future__ import annotations

import modulefinder
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.manifest import Manifest
from service.modelbuild.build import up_to_date
from service.modelbuild.verify import sample_names
from service.settings import PROJECT_ROOT
from tests.deploy.dockerfile import dockerfile_stages


def models_stage_sources() -> set[Path]:
    """The files of service/ the Dockerfile's models stage copies (each to the same path under /src)."""
    _, instructions = dockerfile_stages((PROJECT_ROOT / "Dockerfile").read_text())["models"]
    files: set[Path] = set()
    for instruction in instructions:
        words = instruction.split()
        if words[0] != "COPY":
            continue
        *sources, dest = words[1:]
        for source in (s for s in sources if s.startswith("service/")):
            path = PROJECT_ROOT / source
            if path.is_dir():
                assert dest == source, instruction  # the folder keeps its path
                # what .dockerignore leaves of it
                files |= {p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
            else:
                assert dest == f"{path.parent.relative_to(PROJECT_ROOT)}/", instruction
                files.add(path)
    return {p.relative_to(PROJECT_ROOT) for p in files}


def imported_by_the_model_build() -> set[Path]:
    """The modules of service/ `python -m service.modelbuild` imports, read from the code: the imports
    inside its commands too, whichever a run takes."""
    finder = modulefinder.ModuleFinder(path=[str(PROJECT_ROOT)])  # the project's own modules only
    finder.import_hook("service.modelbuild.__main__")
    modules = (m for name, m in finder.modules.items() if name.partition(".")[0] == "service")
    return {Path(m.__file__).relative_to(PROJECT_ROOT) for m in modules if m.__file__}


def test_the_models_stage_copies_what_the_model_build_imports_and_nothing_else() -> None:
    copied, imported = models_stage_sources(), imported_by_the_model_build()
    missing, needless = sorted(map(str, imported - copied)), sorted(map(str, copied - imported))
    assert not missing, f"the build imports these: add them to the stage's COPY lines: {missing}"
    assert not needless, f"an edit to these would rebuild the models for nothing: {needless}"


def test_the_model_build_runs_from_only_the_files_the_models_stage_copies(
    own_layout: ArtifactLayout, mirror: Path, manifest: Manifest, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for path in models_stage_sources():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / path, src / path)
    # -S (no site): the test venv's editable install of the project would supply any file left out
    site_packages = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    build = ["build", "--models-dir", str(own_layout.root), "--mirror", str(mirror), "--only", "short"]
    result = subprocess.run(
        [sys.executable, "-S", "-m", "service.modelbuild", *build],
        cwd=src,
        env=os.environ | {"PYTHONPATH": os.pathsep.join([str(src), *site_packages])},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = own_layout.read_lock()["models"]["blazeface_short"]
    assert up_to_date(own_layout, manifest.get("blazeface_short"), entry, has_vnni(), sample_names(None))
