"""`python -m service.healthcheck [PATH]`: exit 0 when the local server answers PATH (default /healthz)
with 200, else 1. For container health checks: the image needs no curl, and it reads the same
MVA_PORT the server binds to. Standard library only, so it starts in tens of milliseconds."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def check(path: str = "/healthz", port: int | None = None, timeout: float = 2.0) -> bool:
    port = port or int(os.environ.get("MVA_PORT", "8000"))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    healthy = check(path)
    if not healthy:
        print(f"unhealthy: {path} did not answer 200", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
