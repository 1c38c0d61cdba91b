"""Another git revision of this project, checked out beside it for as long as a benchmark needs it
(`git worktree`, detached, removed afterwards): what `bench-ab --rev` serves to time a change against
the code before it. The models are not in git; a server from the checkout uses this one's."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.settings import PROJECT_ROOT


class CheckoutFailed(RuntimeError):
    pass


def _git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise CheckoutFailed("git is not installed") from exc
    except subprocess.CalledProcessError as exc:
        raise CheckoutFailed(f"git {' '.join(args)}: {exc.stderr.strip()}") from exc
    return done.stdout.strip()


def resolve(rev: str, repo: Path = PROJECT_ROOT) -> str:
    """The full commit id of `rev` (a branch, tag, `HEAD~1`, a short id) in `repo`."""
    return _git("rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}", cwd=repo)


def working_tree(repo: Path = PROJECT_ROOT) -> dict[str, object]:
    """What code `repo` holds: its HEAD commit and whether files differ from it (None outside git).
    Untracked files do not count: a checkout holds built models, artifacts and scratch files git does
    not ignore, and they made an unmodified checkout "changed"."""
    try:
        changes = _git("status", "--porcelain", "--untracked-files=no", cwd=repo)
        return {"commit": resolve("HEAD", repo), "changed": bool(changes)}
    except CheckoutFailed:
        return {"commit": None, "changed": None}


@contextmanager
def checkout(rev: str, repo: Path = PROJECT_ROOT) -> Iterator[Path]:
    """The tree of `rev` in a temporary folder; yields its path."""
    commit = resolve(rev, repo)
    folder = Path(tempfile.mkdtemp(prefix=f"mobile-vision-api-{commit[:12]}-"))
    _git("worktree", "add", "--detach", str(folder), commit, cwd=repo)
    try:
        yield folder
    finally:
        _git("worktree", "remove", "--force", str(folder), cwd=repo)
