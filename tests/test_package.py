"""What importing the package does to its process: onnxruntime's telemetry is off unless asked for; and
its version, the one every other file that names the project's version repeats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import __version__
from service.settings import PROJECT_ROOT
from tests.deploy.dockerfile import dockerfile_stages

# the service's own onnxruntime runner, built and run once, in a fresh process whose HOME is `home`
RUN_ONCE = """
import numpy as np
from pathlib import Path
from service.artifacts import ArtifactLayout
from service.engines.onnx import OnnxRuntimeRunner
from service.manifest import Manifest
layout = ArtifactLayout(Path("models"))
spec = Manifest.load(layout.manifest).get("blazeface_short")
runner = OnnxRuntimeRunner(layout.onnx("blazeface_short", "fp32"), spec.input, "fp32", threads=1)
runner.run(np.zeros((1, spec.input.height, spec.input.width, 3), np.uint8))
"""


# onnxruntime keeps its telemetry quiet by itself where one of these says it runs in CI: the test's
# processes go without them, so that ORT_DISABLE_TELEMETRY alone decides, as on a user's machine
CI_MARKERS = {
    "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
    "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
}  # fmt: skip


def files_written_under_home(home: Path, env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY" and k not in CI_MARKERS}
    subprocess.run(
        [sys.executable, "-c", RUN_ONCE], cwd=PROJECT_ROOT, env=base | {"HOME": str(home)} | env, check=True
    )
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize(("env", "telemetry"), [({}, False), ({"ORT_DISABLE_TELEMETRY": "0"}, True)])
def test_onnxruntime_telemetry_is_off_unless_the_operator_turns_it_on(
    env: dict[str, str], telemetry: bool, tmp_path: Path
) -> None:
    """onnxruntime 1.29+ keeps a device id and a queue of events to upload under ~/.cache/Microsoft;
    with the package's default it writes nothing there (ORT_DISABLE_TELEMETRY=0 shows what it would)."""
    written = files_written_under_home(tmp_path, env)
    device_id = ".cache/Microsoft/DeveloperTools/.onnxruntime/deviceid"
    assert (device_id in written) is telemetry, written


def test_the_version_is_typed_once_and_repeated_alike() -> None:
    """0.1.0 was typed by hand in five files: a release that changed one left the others behind."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "service.__version__"}
    repeated = _repeated_versions()
    assert repeated == dict.fromkeys(repeated, __version__)


def _repeated_versions() -> dict[str, str]:
    """Where the project's version is written out again, as each file has it."""
    *_, (_, image) = dockerfile_stages((PROJECT_ROOT / "Dockerfile").read_text()).values()  # the last
    (docker_arg,) = [line.removeprefix("ARG VERSION=") for line in image if line.startswith("ARG VERSION=")]
    deployment: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "deploy/k8s/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    image_tag = re.fullmatch(r"mobile-vision-api:(.+)", container["image"])
    web = json.loads((PROJECT_ROOT / "web" / "package.json").read_text())
    lock = json.loads((PROJECT_ROOT / "web" / "package-lock.json").read_text())
    return {
        "Dockerfile ARG VERSION": docker_arg,
        "deploy/k8s/deployment.yaml image tag": image_tag.group(1) if image_tag else container["image"],
        "web/package.json": web["version"],
        "web/package-lock.json": lock["version"],
        "web/package-lock.json packages['']": lock["packages"][""]["version"],
    }
