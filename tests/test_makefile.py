"""The Makefile: what its targets run, and that the README names only targets it has.

`make serve` takes its address from HOST / PORT, and from MVA_HOST / MVA_PORT as `serve` itself does:
`MVA_PORT=9000 make serve` served on 8000 (the Makefile passed --port 8000, which wins over MVA_PORT)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from service import __version__
from service.settings import PROJECT_ROOT
from tests.readme import DOCS, commands, fenced_commands


def serve_line(env: dict[str, str]) -> str:
    """The serve command `make serve` would run (`make -n`: printed, not run)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "MVA_HOST", "MVA_PORT")}
    printed = subprocess.run(
        ["make", "-n", "serve"], cwd=PROJECT_ROOT, env=clean | env, capture_output=True, text=True, check=True
    ).stdout
    return next(line for line in printed.splitlines() if " serve --host " in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize(
    ("env", "address"),
    [
        ({}, "--host 127.0.0.1 --port 8000"),
        ({"MVA_PORT": "9100", "MVA_HOST": "0.0.0.0"}, "--host 0.0.0.0 --port 9100"),
        ({"PORT": "9200", "MVA_PORT": "9100"}, "--host 127.0.0.1 --port 9200"),
    ],
)
def test_make_serve_listens_where_the_variables_say(env: dict[str, str], address: str) -> None:
    assert serve_line(env).endswith(address)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_image_tags_and_labels_the_project_s_version() -> None:
    """deploy/k8s/deployment.yaml names the image by the version (tests/test_package.py keeps them alike):
    `make image` built only :latest, and labelled it with the Dockerfile's default version."""
    printed = subprocess.run(
        ["make", "-n", "image"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    build = next(line for line in printed.splitlines() if " build -t " in line)
    assert f"-t mobile-vision-api:{__version__} --build-arg VERSION={__version__} " in build


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_the_image_pictures_are_copied_whatever_kinds_a_folder_has(tmp_path: Path) -> None:
    """`make image` fills docker/images from IMAGES: a folder without a .jpg (or .bmp) failed, and PNGs,
    which the Dockerfile verifies on too, were left out, and so were .jpeg and upper-case names, which
    the model build reads as well. Other files stay out."""
    source, dest = tmp_path / "pictures", tmp_path / "context"
    source.mkdir()
    dest.mkdir()
    for name in ("cat.bmp", "cat.png", "bird.jpeg", "FACE.JPG", "notes.txt"):
        (source / name).write_bytes(b"x")
    subprocess.run(
        ["make", "-s", "docker-images", f"IMAGES={source}", f"DOCKER_IMAGES={dest}"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in dest.iterdir()) == ["FACE.JPG", "bird.jpeg", "cat.bmp", "cat.png"]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
@pytest.mark.parametrize(
    ("target", "command", "expected"),
    [
        ("models", " models build", ["--mirror", "/data/model mirror", "--images", "/data/my pictures"]),
        ("docker-context", " models mirror ", ["docker/model-mirror", "--source", "/data/model mirror"]),
        ("test", "pytest", ["MVA_TEST_IMAGES=/data/my pictures", ".venv/bin/pytest"]),
        ("bench-goals", " bench-goals", ["--large-image", "/data/my pictures/cat_1080p.jpg"]),
        ("docker-images", "find ", ["find", "/data/my pictures/", "-maxdepth", "1"]),
    ],
)
def test_model_folders_with_spaces_reach_the_model_commands_whole(
    target: str, command: str, expected: list[str]
) -> None:
    """`make models MIRROR="/data/model mirror"` passed `--mirror /data/model mirror`: the shell split
    it, and the build stopped at an unexpected extra argument; so did IMAGES in test, bench-goals and
    docker-images."""
    printed = subprocess.run(
        ["make", "-n", target, "MIRROR=/data/model mirror", "IMAGES=/data/my pictures"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words = shlex.split(next(line for line in printed.splitlines() if command in line))
    assert any(words[i : i + len(expected)] == expected for i in range(len(words))), words


def make_targets() -> dict[str, bool]:
    """The Makefile's targets, each with whether it is phony, from make's own database (`make -pq`:
    printed, nothing run): a name that is no rule of the Makefile is "Not a target" there."""
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    ).stdout
    targets: dict[str, bool] = {}
    for block in database.split("\n\n"):
        rule = re.match(r"([^#\s][^:=]*?):(?!=)", block)
        if rule and not block.startswith("# Not a target:"):
            targets[rule[1]] = "#  Phony target" in block
    return targets


def unmade_readme_targets(readme: Path) -> list[str]:
    """Each `make <target>` the README shows whose target the Makefile lacks, or has as a file target under
    a command's name (one that is no path): not phony, it is "up to date" whenever a file or folder by
    that name exists (`models/` does)."""
    targets = make_targets()
    shown = {word for words in commands(readme, ("make",)) for word in words if not re.match(r"\w+=|-", word)}
    return sorted(t for t in shown if t not in targets or not (targets[t] or "/" in t))


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_every_make_target_the_readme_shows_is_a_phony_rule_of_the_makefile() -> None:
    assert make_targets()["serve"] and not make_targets()["deploy/secrets/api_key"]
    assert [target for doc in DOCS for target in unmade_readme_targets(doc)] == []


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_a_target_the_makefile_lacks_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("```bash\nmake serve && make PORT=1 sevre\n```\n`make lint install`, `make clena`\n")
    assert unmade_readme_targets(readme) == ["clena", "sevre"]


# what `make install` puts in .venv/bin and a fresh shell does not find there: the CLI, locust, and our
# modules' `python -m` (a shell's own python has none of the project's packages)
VENV_PROGRAMS = {"mobile-vision-api", "locust"}
PROJECT_MODULES = {"service", "loadtests"}


def bare_venv_commands(readme: Path) -> list[str]:
    """Each command of the README's code blocks that runs a program of the venv by its bare name, so
    that it fails as pasted into a shell where the venv is not activated."""
    bare = []
    for program, *words in fenced_commands(readme):
        module = words[1].split(".")[0] if words[:1] == ["-m"] and len(words) > 1 else None
        if program in VENV_PROGRAMS or (program in ("python", "python3") and module in PROJECT_MODULES):
            bare.append(" ".join([program, *words[:2]]))
    return sorted(set(bare))


def test_every_command_the_readme_shows_runs_the_venvs_programs_by_their_path() -> None:
    assert [command for doc in DOCS for command in bare_venv_commands(doc)] == []


def test_a_venv_program_run_by_its_bare_name_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "```bash\nlocust -f x.py --worker &\nX=1 python -m loadtests.run run --help\n"
        ".venv/bin/mobile-vision-api serve && curl -s x | python3 -m json.tool\n```\n"
        "`mobile-vision-api serve`\n"
    )
    assert bare_venv_commands(readme) == ["locust -f x.py", "python -m loadtests.run"]
