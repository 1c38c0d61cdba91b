"""Checks of the bench commands' options, run as typer parses them: a wrong value is a usage error
(exit 2) that names the option, before any server starts or model loads (it was a traceback); and the
exit codes their --help lists."""

from __future__ import annotations

from pathlib import Path

import typer

from service.artifacts import MODELS_FOLDER
from service.client import service_url
from service.manifest import Manifest, ManifestError
from service.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"  # --models-dir's default

# for a typer.Option that names an input file: a missing one is refused while parsing
EXISTING_FILE = {"exists": True, "dir_okay": False, "readable": True}


def models_folder(value: Path) -> Path:
    """--models-dir: the folder that holds manifest.json, a manifest (a broken one was a traceback)."""
    if not (value / "manifest.json").is_file():
        raise typer.BadParameter(f"{str(value)!r} has no manifest.json: it should be {MODELS_FOLDER}")
    try:
        Manifest.load(value / "manifest.json")
    except ManifestError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def server_url(value: str | None) -> str | None:
    """--url: a running server's address, checked as the client's (a bare host:port means http://):
    one that is none is a usage error (a bad port was a traceback); None: start one."""
    if value is None:
        return None
    try:
        return service_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def known_models(manifest: Manifest, names: list[str]) -> list[str]:
    """--model: names (or aliases) the manifest has; else a usage error listing them."""
    unknown = [name for name in names if not manifest.knows(name)]
    if unknown:
        listed, known = ", ".join(map(repr, unknown)), ", ".join(manifest.models)
        raise typer.BadParameter(f"{listed}: choose from {known}", param_hint="--model")
    return names


# typer turns the KeyboardInterrupt into 130; a SIGTERM raises one too (localserver.unwind_on_sigterm)
INTERRUPTED = "130: interrupted (Ctrl-C, SIGTERM), the servers it started stopped"


def exit_codes(done: str, failed: str, usage: str = "an invalid option", starts_servers: bool = True) -> str:
    """A bench command's --help epilog: what a script running it can tell apart (as the client's
    CLIENT_EXIT_CODES)."""
    codes = f"Exit codes: 0 {done}; 1: {failed}; 2: {usage}"
    return f"{codes}; {INTERRUPTED}." if starts_servers else f"{codes}."
