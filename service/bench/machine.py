"""The machine and software a benchmark ran on, stored beside its numbers."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from service.cpu import cpu_info
from service.settings import CPU_COUNT

PACKAGES = (
    "mobile-vision-api",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
    "pillow",
    "simplejpeg",
    "opencv-python-headless",
    "fastapi",
    "uvicorn",
    "httpx",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_info() -> dict[str, object]:
    info = cpu_info()
    simd = info["simd"]
    assert isinstance(simd, dict)
    return {
        "cpu": info["model"],
        "machine": info["machine"],
        "simd": sorted(label for label, present in simd.items() if present),
        "cores": CPU_COUNT,
        "host_cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": package_versions(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
