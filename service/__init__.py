"""mobile-vision-api: server-side MobileNetV2 classification and BlazeFace detection."""

import os

# the project's version, typed only here: pyproject.toml reads it (setuptools' dynamic version); the
# Dockerfile's ARG VERSION, the Kubernetes image tag and web/package.json are held to it by a test
__version__ = "0.1.0"

# onnxruntime 1.29+ collects usage telemetry on Linux too, for upload to Microsoft: a device id and an
# event queue under $HOME/.cache/Microsoft, an uploader thread. A self-hosted service opts out unless the
# operator says otherwise (ORT_DISABLE_TELEMETRY=0 leaves it on). Set here, before any module of the
# package loads onnxruntime, which reads the variable once, when it starts.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
