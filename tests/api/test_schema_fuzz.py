"""schemathesis against the service's own OpenAPI document, through a real server: >= 1000 generated
cases, no 5xx, every response as documented (status, content type, schema).

`positive_data_acceptance` is left out: it expects every schema-valid request to be accepted, but
some valid-looking combinations are refused on purpose with 422 naming the field (simd=off with
onnxruntime, precision=fp32 with litert on the int8 tflite)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import LiveServer


def test_generated_requests_conform(server: LiveServer, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.url}/openapi.json",
        "--max-examples=100",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",
        "--seed=20261125",
        "--no-color",
        "--request-timeout=30",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    summary = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert result.returncode == 0 and summary, result.stdout[-4000:]
    generated, passed = map(int, summary.groups())
    assert generated >= 1000 and passed == generated
