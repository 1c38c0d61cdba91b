"""How the service logs: one configuration for uvicorn and for us, applied by uvicorn in the server
process and in every worker process (`serve --workers N`), as text or as one JSON object per line
(`MVA_LOG_FORMAT=json`, for log shippers). The access log (service/api/access_log.py) is JSON either
way, on stdout; these logs go to stderr."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def utc_timestamp(seconds: float) -> str:
    """1764121234.5678 -> 2025-11-26T01:40:34.567Z"""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


def log_warnings() -> None:
    """Python warnings (Pillow's on a damaged upload, say) through logging, as WARNING lines of the
    logger `py.warnings`, not written to stderr as they are: with MVA_LOG_FORMAT=json every line stays
    JSON. Per process (uvicorn's worker processes call it too); Python's filters still show each
    warning once per place in the code, so a flood of damaged uploads is not a flood of lines."""
    logging.captureWarnings(True)


def log_config(level: str, log_format: str) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn's `log_config`: everything through the root logger."""
    formatter = {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own loggers keep no handlers of their own: they reach the root's
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
