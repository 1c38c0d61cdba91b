"""Launch Debian's chromium through playwright: never a downloaded browser, a fresh profile each time,
no GPU (there is none here: WebGL is SwiftShader, WebGPU has no adapter)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class ChromiumNotStarted(RuntimeError):
    """The executable did not start as a browser playwright can drive (not chromium, a broken install)."""


def find_chromium() -> Path | None:
    """MVA_CHROMIUM, else Debian's `chromium` on PATH."""
    explicit = os.environ.get("MVA_CHROMIUM")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


@contextmanager
def chromium_context(executable: Path, extra_flags: tuple[str, ...] = ()) -> Iterator[BrowserContext]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mva-chromium-") as profile, sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=str(executable),
                headless=True,
                args=[*CHROMIUM_FLAGS, *extra_flags],
                viewport={"width": 1280, "height": 1000},
            )
        except PlaywrightError as exc:  # its first line says what happened, the browser's log follows
            raise ChromiumNotStarted(f"{executable} did not start: {exc.message.splitlines()[0]}") from None
        try:
            yield context
        except BaseException:
            # a Ctrl-C reaches the whole foreground group: playwright's driver has closed chromium
            # already, and closing it again must not replace the interrupt with its own error
            with suppress(PlaywrightError):
                context.close()
            raise
        context.close()
