"""An unexpected exception: a 500 in the JSON error shape, and a log line that names the request."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from service.api.app import create_app
from service.settings import ServerSettings


def test_an_unexpected_error_is_a_json_500_logged_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(ServerSettings(warm_models=[]))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/boom", headers={"X-Request-ID": "trace-7"})

    with caplog.at_level(logging.ERROR, logger="mobile_vision_api"):
        response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    record = next(r for r in caplog.records if r.name == "mobile_vision_api")
    assert "GET /boom" in record.getMessage() and "trace-7" in record.getMessage()
    assert record.exc_info is not None and "a bug" in str(record.exc_info[1])
