"""Fill a mirror folder with the URL-sourced model files of the manifest (models and labels), so that
a build elsewhere (e.g. `docker build`, whose context holds the folder) runs with `--mirror` and
needs no download. PyPI-sourced models are left out: pip fetches them wherever the build runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.manifest import Manifest, UrlSource
from service.modelbuild.fetch import fetch_url


def url_sources(manifest: Manifest) -> list[UrlSource]:
    """Every file the manifest names by URL, once each."""
    sources: dict[str, UrlSource] = {}
    for spec in manifest.models.values():
        for source in (spec.source, spec.labels):
            if isinstance(source, UrlSource):
                sources.setdefault(source.filename, source)
    return list(sources.values())


def fill_mirror(
    manifest: Manifest, dest: Path, source_mirror: Path | None, log: Callable[[str], None] = print
) -> list[Path]:
    """Put every URL-sourced file into `dest`, copied from `source_mirror` when given, else downloaded
    from its official URL; each is checked against its sha256 (files already there and intact are kept)."""
    written = []
    for source in url_sources(manifest):
        path = fetch_url(source, dest / source.filename, source_mirror)
        log(f"{path}: {source.sha256[:12]}… from {source_mirror or source.url}")
        written.append(path)
    return written
