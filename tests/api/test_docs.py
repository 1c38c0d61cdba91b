"""`/docs` (service/api/routes/docs.py): Swagger UI from the page build, never from a CDN; a policy that
admits exactly its own boot script; ReDoc is off; a server without the build says how to make it.
The page working in a browser (render, Authorize, Execute): tests/browser/test_docs.py."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import LiveServer


def test_docs_load_everything_from_this_server(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    linked = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert linked and all(url.startswith("/") and not url.startswith("//") for url in linked), linked
    assert "https://" not in html and "http://" not in html
    for url in linked:
        asset = client.get(url, headers={"Accept-Encoding": "br"})
        assert asset.status_code == 200, url
    bundle = client.get("/web/vendor/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "br"})
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert bundle.headers["content-encoding"] == "br" and b"SwaggerUIBundle" in bundle.content
    assert "validatorUrl" in html and "null" in html  # no badge image from validator.swagger.io


def test_the_policy_admits_the_boot_script_by_hash_and_nothing_off_origin(client: httpx.Client) -> None:
    response = client.get("/docs")
    directives = response.headers["content-security-policy"].split(";")
    policy = dict(part.strip().split(" ", 1) for part in directives)
    assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"]
    (script,) = re.findall(r"<script>(.*?)</script>", response.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_redoc_is_off_and_the_schema_stays(client: httpx.Client) -> None:
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "mobile-vision-api"


def test_without_the_page_build_docs_say_how_to_make_it(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = start_server(static_dir=str(tmp_path), warm_models="[]")
    with server.client() as client:
        response = client.get("/docs")
        assert response.status_code == 404
        assert "make web" in response.json()["error"]["message"]
        assert client.get("/healthz").status_code == 200
