"""Checks of the bench commands' options, run as typer parses them: a wrong value is a usage error
(exit 2) that names the option, before any server starts or model loads (it was a traceback)."""

from __future__ import annotations

from pathlib import Path

import typer

from service.artifacts import MODELS_FOLDER
from service.manifest import Manifest
from service.settings import PROJECT_ROOT

MODELS_DIR = PROJECT_ROOT / "models"  # --models-dir's default

# for a typer.Option that names an input file: a missing one is refused while parsing
EXISTING_FILE = {"exists": True, "dir_okay": False, "readable": True}


def models_folder(value: Path) -> Path:
    """--models-dir: the folder that holds manifest.json."""
    if not (value / "manifest.json").is_file():
        raise typer.BadParameter(f"{str(value)!r} has no manifest.json: it should be {MODELS_FOLDER}")
    return value


def known_models(manifest: Manifest, names: list[str]) -> list[str]:
    """--model: names (or aliases) the manifest has; else a usage error listing them."""
    unknown = [name for name in names if not manifest.knows(name)]
    if unknown:
        listed, known = ", ".join(map(repr, unknown)), ", ".join(manifest.models)
        raise typer.BadParameter(f"{listed}: choose from {known}", param_hint="--model")
    return names
