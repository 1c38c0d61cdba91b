"""Log formats: the JSON formatter, and real servers (one process, and two workers) whose every log
line is a JSON object with MVA_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from service.localserver import serve_app
from service.logs import JsonFormatter, log_config, utc_timestamp


def test_a_record_becomes_one_json_object_with_its_exception() -> None:
    try:
        raise ValueError("bad pixels")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("mobile_vision_api", logging.ERROR, __file__, 1, "failed: %s", ("x",), None)
    record.exc_info = exc_info
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "mobile_vision_api", "failed: x")
    assert "ValueError: bad pixels" in line["exception"]
    assert line["time"] == utc_timestamp(record.created)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_text_is_the_default_format() -> None:
    config = log_config("info", "text")
    assert config["formatters"]["default"] == {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    assert config["root"]["level"] == "INFO"


def truncated_bigtiff() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "TIFF", big_tiff=True)
    return out.getvalue()[:20]


@pytest.mark.parametrize("workers", [1, 2])
def test_every_line_of_a_server_is_json(tmp_path: Path, workers: int) -> None:
    log = tmp_path / "server.log"
    env = {"MVA_LOG_FORMAT": "json", "MVA_WARM_MODELS": '["blazeface_short"]', "MVA_INFERENCE_CORES": "1"}
    with serve_app(env, workers=workers, log=log, log_level="info") as (url, _):
        # Pillow warns (warnings.warn, not logging) on this damaged TIFF before it fails to read it
        truncated = httpx.post(f"{url}/classify", files={"image": truncated_bigtiff()}, timeout=30)
    assert truncated.status_code == 422, truncated.text
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    warned = [line for line in lines if line["logger"] == "py.warnings"]
    assert len(warned) == 1 and "UserWarning: Corrupt EXIF data" in warned[0]["message"]
    # uvicorn's own lines and ours, from every process
    assert any(m.startswith("Started server process") for m in messages)
    assert any(m.startswith("listening on http://127.0.0.1:") for m in messages)
    ready = [
        line
        for line in lines
        if re.fullmatch(r"ready: warmed blazeface_short \([\d.]+ ms\)", line["message"])
    ]
    assert len(ready) == workers and {line["logger"] for line in ready} == {"mobile_vision_api"}
