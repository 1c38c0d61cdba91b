"""web/src/answers.mjs, run by node: the page reads the API's JSON answers and errors, and names an
HTML error page from a proxy in front of the API as such instead of failing to parse it."""

from __future__ import annotations

import json
import shutil
import subprocess

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
def test_api_answers_and_proxy_error_pages(server: LiveServer, proxy_error_page: str) -> None:
    manifest, refused, nginx, plain = read_all(
        [
            ("/v1/manifest", f"{server.url}/v1/manifest", "GET"),
            ("classify", f"{server.url}/classify", "POST"),  # three bytes that are no picture
            ("classify", f"{proxy_error_page}/classify", "POST"),
            ("detect", f"{proxy_error_page}/plain", "POST"),
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
