"""One models build at a time per models folder. Two at once (two `make models`, a terminal and an IDE)
each emptied the other's staging folder and wrote the same `.part` files, and the later lock.json
left out what the other had built: the second build now waits for the first, then finds its work done."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def held(folder: Path, log: Callable[[str], None]) -> Iterator[None]:
    """`folder` (made if missing) for this process alone until the block ends: an flock on the folder
    itself, so no lock file is left in it, and the OS releases it when a build is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"{folder}: another models build is running there; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
