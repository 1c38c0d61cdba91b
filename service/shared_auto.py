"""preset=auto across the worker processes of `serve --workers N`. Each process measured a model for
itself, all at once on the same cores (a 2-thread candidate loses most when another core is taken), so
they could choose differently. Now one process at a time holds an exclusive lock on the model's file in
the run folder's `auto/`: the first measures and writes the result there, the others wait for it and
read it. A failed measurement writes why: the requests that waited for it fail with it, as those of the
process that measured do, and the next request measures again."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.autotune import AutoChoice
from service.errors import NotReady, client_detail

AUTO_DIR = "auto"  # in the run folder (service/workers.py)
RECORD_SUFFIX = ".json"


@dataclass(frozen=True)
class SharedAutoChoices:
    """preset=auto's results in `folder`: per model a record (the choice, or why the last attempt
    failed, with how many were made) and a lock file that whoever measures holds."""

    folder: Path

    def measured_once(self, model: str, measure: Callable[[], AutoChoice]) -> AutoChoice:
        """The model's choice as another process recorded it, else `measure()`'s, recorded for the
        others. Blocks while another process measures it. NotReady when the measurement this waited
        for failed."""
        record = self._record_file(model)
        attempts_before = _attempts(_read(record))  # a failure recorded after this is the one waited for
        with _exclusive(self.folder / f"{model}.lock"):
            last = _read(record)
            if last is not None and "choice" in last:
                return AutoChoice.from_dict(model, last)
            if last is not None and _attempts(last) > attempts_before:
                raise NotReady(last["failed"])
            attempt = _attempts(last) + 1
            try:
                choice = measure()
            except Exception as exc:
                # its full text is in the log of the process that measured
                why = client_detail(exc)
                failed = f"preset=auto's measurement of {model} failed in another worker process ({why})"
                _write(record, {"attempts": attempt, "failed": failed})
                raise
            _write(record, {"attempts": attempt, **choice.as_dict()})
            return choice

    def recorded(self) -> dict[str, AutoChoice]:
        """The choices recorded so far, per model (whichever process measured them)."""
        found = {}
        for record in sorted(self.folder.glob(f"*{RECORD_SUFFIX}")):
            report = _read(record)
            if report is not None and "choice" in report:
                found[record.stem] = AutoChoice.from_dict(record.stem, report)
        return found

    def _record_file(self, model: str) -> Path:
        return self.folder / f"{model}{RECORD_SUFFIX}"


def _attempts(record: dict[str, Any] | None) -> int:
    return 0 if record is None else int(record["attempts"])


def _read(record: Path) -> dict[str, Any] | None:
    try:
        report: dict[str, Any] = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    return report


def _write(record: Path, report: dict[str, Any]) -> None:
    """Whole or not at all: a process that reads it meanwhile (/v1/models) never meets half a file."""
    partial = record.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(report))
    partial.replace(record)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Held by one process at a time; a process that dies holding it lets go with its file."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
