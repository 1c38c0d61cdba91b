"""`python -m service.audit requirements.lock` (`make audit`): the locked Python dependencies against
PyPI's vulnerability data, the source pip-audit reads by default.

pip-audit asks PyPI per version (`/pypi/<name>/<version>/json`), which the PyPI reachable from this
workplace answers with 404; the project document (`/pypi/<name>/json`) is served, and lists the known
vulnerabilities of the project's newest release. So a pin at the newest release is checked in full; an
older pin only against what is still open in the newest release (a vulnerability fixed in between does
not show there) and is reported as partly checked, with the newest version to move to. Exit status: 1
on any finding, 2 when PyPI did not answer for a package (0 with `--allow-unanswered`, which CI uses:
the audit needs the network, the build does not) and for a file that is not a lock (a usage error: a
line that pins no version, or no pin at all), else 0."""

from __future__ import annotations

import argparse
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PYPI = "https://pypi.org/pypi"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


@dataclass(frozen=True)
class Assessment:
    name: str
    pinned: str
    newest: str | None  # None: PyPI did not answer
    findings: list[str] = field(default_factory=list)  # "ID (aliases): summary; fixed in ..."
    error: str | None = None

    @property
    def fully_checked(self) -> bool:
        return self.newest == self.pinned


def read_pins(lock_text: str) -> list[tuple[str, str]]:
    """`name==version` lines of a pip freeze; comments, editables and other lines are not pins."""
    return [(m.group(1), m.group(2)) for line in lock_text.splitlines() if (m := _PIN.match(line.strip()))]


def unpinned(lock_text: str) -> list[str]:
    """Requirement lines that pin no version (`name>=1`, `name @ URL`, a bare name): the audit cannot
    look them up, so they would pass unchecked. Comments and options (`-e`, `--hash`) are neither."""
    lines = (line.strip() for line in lock_text.splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-")) and not _PIN.match(line)]


def assess(name: str, pinned: str, project: dict[str, Any]) -> Assessment:
    """`project`: PyPI's JSON document of the project. Its vulnerabilities are the newest release's:
    they affect the pin when it is that release, and are taken to when it is older (still open)."""
    current = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return Assessment(name, pinned, project["info"]["version"], [_finding(v) for v in _distinct(current)])


def _distinct(vulnerabilities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per vulnerability: PyPI lists some twice, from two databases (a PYSEC id and a GHSA id
    naming each other, or the same CVE, in their aliases); the first listed stands for both."""
    seen: set[str] = set()
    kept = []
    for vulnerability in vulnerabilities:
        ids = {vulnerability["id"], *(vulnerability.get("aliases") or [])}
        if not ids & seen:
            kept.append(vulnerability)
        seen |= ids
    return kept


def _finding(vulnerability: dict[str, Any]) -> str:
    aliases = ", ".join(vulnerability.get("aliases") or [])
    what = (vulnerability.get("summary") or vulnerability.get("details") or "")[:120]
    fixed = vulnerability.get("fixed_in")
    return f"{vulnerability['id']} ({aliases}): {what}; " + (
        f"fixed in {', '.join(fixed)}" if fixed else "no fixed release"
    )


def fetch(client: httpx.Client, name: str, pinned: str) -> Assessment:
    error = ""
    for _ in range(3):  # a transient failure is not a verdict
        try:
            response = client.get(f"{PYPI}/{name}/json")
            if response.status_code == 200:
                return assess(name, pinned, response.json())
            error = f"HTTP {response.status_code}"
            if response.status_code < 500:  # not found (or refused): asking again will not change it
                break
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
    return Assessment(name, pinned, None, error=error)


def audit(pins: list[tuple[str, str]]) -> list[Assessment]:
    with httpx.Client(timeout=60, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda pin: fetch(client, *pin), pins))


def report(results: list[Assessment]) -> tuple[str, int]:
    """The text to print and the exit status."""
    lines: list[str] = []
    found = [r for r in results if r.findings]
    unanswered = [r for r in results if r.newest is None]
    partly = [r for r in results if r.newest is not None and not r.fully_checked]
    for r in found:
        lines.append(f"VULNERABLE {r.name}=={r.pinned} (newest {r.newest}):")
        lines += [f"  - {finding}" for finding in r.findings]
    for r in unanswered:
        lines.append(f"NOT CHECKED {r.name}=={r.pinned}: PyPI did not answer ({r.error})")
    if partly:
        older = ", ".join(f"{r.name}=={r.pinned} (newest {r.newest})" for r in partly)
        lines.append(f"partly checked, older than the newest release: {older}")
    full = len(results) - len(partly) - len(unanswered)
    lines.append(
        f"{len(results)} locked packages: {full} checked in full, {len(partly)} partly, "
        f"{len(unanswered)} not checked; {sum(len(r.findings) for r in found)} vulnerabilities"
    )
    return "\n".join(lines), 1 if found else 2 if unanswered else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path, nargs="?", default=Path("requirements.lock"))
    parser.add_argument("--allow-unanswered", action="store_true", help="exit 0 when PyPI did not answer")
    args = parser.parse_args(argv)
    try:
        lock_text = args.lock.read_text()
    except OSError as exc:  # a usage error (exit 2), not a traceback with exit 1, which means findings
        parser.error(f"{args.lock}: {exc.strerror or exc}")
    # a file that is not a lock (requirements with ranges, pyproject.toml) audited nothing and passed
    pins, loose = read_pins(lock_text), unpinned(lock_text)
    if loose or not pins:
        why = f"no version pinned in {', '.join(map(repr, loose[:5]))}" if loose else "no name==version lines"
        parser.error(f"{args.lock}: not a lock file ({why}): `make lock` writes one")
    text, status = report(audit(pins))
    print(text)
    return 0 if status == 2 and args.allow_unanswered else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
