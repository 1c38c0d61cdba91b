"""`/docs`: Swagger UI on the OpenAPI document, from the page build's own copy (`make web` puts
swagger-ui-dist into web/dist/vendor/swagger-ui) instead of FastAPI's default CDN, which an offline or
locked-down network never reaches. The content security policy keeps every request on this origin."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html

from service.api.inference import state_of
from service.api.routes.web import PageNotBuilt
from service.api.static import ISOLATION_HEADERS, inside

router = APIRouter()

SWAGGER_UI = "vendor/swagger-ui"
# Swagger UI's default validator badge is an image from validator.swagger.io: null turns it off.
PARAMETERS = {"validatorUrl": None, "tryItOutEnabled": True}


@lru_cache(maxsize=8)
def swagger_page(root_path: str, openapi_url: str, title: str) -> tuple[bytes, str]:
    """The page FastAPI would serve, pointed at our copy, and its policy. FastAPI's page boots Swagger UI
    from one inline script; the policy allows exactly that script by its hash, nothing else inline."""
    html = get_swagger_ui_html(
        openapi_url=root_path + openapi_url,
        title=f"{title} - API",
        swagger_js_url=f"{root_path}/web/{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root_path}/web/{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root_path}/web/favicon.svg",
        swagger_ui_parameters=PARAMETERS,
    ).body
    scripts = re.findall(rb"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in scripts)
    policy = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {hashes}",
            # Swagger UI sets style attributes from script (its models and the response panes)
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",
            "frame-ancestors 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )
    )
    return bytes(html), policy


@router.head("/docs", include_in_schema=False)
@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    if inside(state_of(request).settings.static_dir, f"{SWAGGER_UI}/swagger-ui-bundle.js") is None:
        raise PageNotBuilt("Swagger UI is not built (run `make web`)", field="path")
    app = request.app
    html, policy = swagger_page(request.scope.get("root_path", "").rstrip("/"), app.openapi_url, app.title)
    headers = {**ISOLATION_HEADERS, "Content-Security-Policy": policy, "Cache-Control": "no-cache"}
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)
