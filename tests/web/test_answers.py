"""web/src/answers.mjs, run by node: the page reads the API's JSON answers and errors, and names an
HTML error page from a proxy in front of the API as such instead of failing to parse it."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.settings import PROJECT_ROOT
from tests.conftest import LiveServer

NODE = shutil.which("node")
# fetch each URL as the page does (POST for /classify), and print what readJson gave or threw
SCRIPT = """
import { readJson } from 'MODULE';
const results = [];
for (const [what, url, method] of JSON.parse(process.argv[1])) {
  const body = method === 'POST' ? new Uint8Array([1, 2, 3]) : undefined;
  const response = await fetch(url, { method, headers: { 'Content-Type': 'image/jpeg' }, body });
  try {
    results.push({ payload: await readJson(what, response) });
  } catch (error) {
    results.push({ error: error.message, status: error.status, name: error.constructor.name });
  }
}
process.stdout.write(JSON.stringify(results));
""".replace("MODULE", (PROJECT_ROOT / "web" / "src" / "answers.mjs").as_uri())

# what nginx answers when no upstream does (its built-in page)
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class _HtmlProxy(BaseHTTPRequestHandler):
    """A proxy with no upstream: every request gets its HTML 502 page (or plain text on /plain)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        plain = self.path == "/plain"
        body = b"upstream connect error or disconnect/reset before headers" if plain else NGINX_502
        self.send_response(503 if plain else 502)
        self.send_header("Content-Type", "text/plain" if plain else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def html_proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def read_all(calls: list[tuple[str, str, str]]) -> list[dict]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT, json.dumps(calls)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_api_answers_and_proxy_error_pages(server: LiveServer, html_proxy: str) -> None:
    manifest, refused, nginx, plain = read_all(
        [
            ("/v1/manifest", f"{server.url}/v1/manifest", "GET"),
            ("classify", f"{server.url}/classify", "POST"),  # three bytes that are no picture
            ("classify", f"{html_proxy}/classify", "POST"),
            ("detect", f"{html_proxy}/plain", "POST"),
        ]
    )
    assert "mobilenet_v2" in manifest["payload"]["models"]
    # the API's own error: its status and message
    assert refused["name"] == "HttpError" and refused["status"] == 415, refused
    assert refused["error"].startswith("classify: HTTP 415: "), refused
    # a proxy's page: its status and what it says, not "Unexpected token '<'"
    assert nginx == {
        "error": 'classify: HTTP 502: not an answer of the API (text/html: "502 Bad Gateway")',
        "status": 502,
        "name": "HttpError",
    }
    assert plain["status"] == 503
    assert plain["error"] == (
        'detect: HTTP 503: not an answer of the API (text/plain: "upstream connect error or disconnect/reset '
        'before headers")'
    )
