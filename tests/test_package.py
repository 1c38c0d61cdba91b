"""What importing the package does to its process: onnxruntime's telemetry is off unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import PROJECT_ROOT

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
