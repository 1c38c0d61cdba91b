"""`python -m service.healthcheck [PATH]`: exit 0 when the local server answers PATH (default /healthz)
with 200, else 1; a PATH that is none (no leading `/`, a space in it) is a usage error, exit 2. For
container health checks: the image needs no curl, and it reads the same MVA_HOST and MVA_PORT the
server binds to. Standard library only, so it starts in tens of milliseconds."""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request

# bound to every address: asked on loopback
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
DEFAULT_PORT = 8000  # `serve`'s, when MVA_PORT is unset or empty


def local_host(bound: str) -> str:
    """Where to reach a server bound to `bound` (MVA_HOST) from the same machine: a server bound to one
    address (127.0.0.2, ::1, a pod IP) does not answer on 127.0.0.1."""
    bound = bound.strip()
    if bound in WILDCARDS:
        return "127.0.0.1"
    return f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound


def local_port(configured: str | None) -> int:
    """The port `serve` listens on for MVA_PORT = `configured`: an empty variable counts as unset there
    (click ignores it), so it is the default here too, not a number that fails to parse."""
    return int(configured) if configured else DEFAULT_PORT


def check(
    path: str = "/healthz", port: int | None = None, timeout: float = 2.0, host: str | None = None
) -> bool:
    port = port or local_port(os.environ.get("MVA_PORT"))
    where = local_host(host if host is not None else os.environ.get("MVA_HOST", ""))
    # no proxy: an HTTP_PROXY in the container's environment (Docker's client config puts one in every
    # container) would be asked for the local server, and the check fail
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"http://{where}:{port}{path}", timeout=timeout) as response:
            return response.status == 200
    # HTTPException: something else answers on the port (not HTTP, a status line cut short); it was a
    # traceback in the container's health log, where one line says it
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return False


def path_error(path: str) -> str | None:
    """Why `path` cannot follow the server's address in a URL, or None. Without a leading `/` it would
    run into the port (`:8000healthz`); urllib refuses spaces and control characters. Either raised
    http.client.InvalidURL, a traceback."""
    if not path.startswith("/"):
        return f"PATH must start with / (got {path!r})"
    if any(c.isspace() or not c.isprintable() for c in path):
        return f"PATH must not contain spaces or control characters (got {path!r})"
    return None


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    # a second argument (a port, a timeout, as other checks take) was dropped without a word: the check
    # then asked what it always asks, and a HEALTHCHECK written that way passed for the wrong reason
    wrong = f"one PATH at most (got {len(argv) - 1} arguments)" if len(argv) > 2 else path_error(path)
    if wrong is not None:
        print(f"usage: python -m service.healthcheck [PATH]: {wrong}", file=sys.stderr)
        return 2
    try:
        healthy = check(path)
    except ValueError as exc:  # MVA_PORT not a number: unhealthy, said in a line, not a traceback
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {path} did not answer 200", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
