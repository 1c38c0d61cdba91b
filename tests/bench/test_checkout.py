"""service/bench/checkout.py: another revision checked out beside this one, and gone afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.bench.checkout import CheckoutFailed, checkout, resolve, working_tree
from service.settings import PROJECT_ROOT

pytestmark = pytest.mark.skipif(not (PROJECT_ROOT / ".git").exists(), reason="not a git checkout")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout


def test_checkout_holds_the_revision_and_is_removed_afterwards() -> None:
    commit = _git("rev-parse", "HEAD~1").strip()
    assert resolve("HEAD~1") == commit
    with checkout("HEAD~1") as tree:
        assert (tree / "service" / "cli.py").read_text() == _git("show", f"{commit}:service/cli.py")
        assert str(tree) in _git("worktree", "list")
    assert not tree.exists()
    assert str(tree) not in _git("worktree", "list")


def test_an_unknown_revision_is_refused() -> None:
    with pytest.raises(CheckoutFailed, match="no-such-revision"):
        resolve("no-such-revision")
    with pytest.raises(CheckoutFailed):
        resolve("--all")  # not taken as an option


def test_the_working_tree_names_its_commit() -> None:
    tree = working_tree()
    assert tree["commit"] == _git("rev-parse", "HEAD").strip()
    assert isinstance(tree["changed"], bool)


def test_changed_means_a_tracked_file_differs_not_an_untracked_one(tmp_path: Path) -> None:
    """ab.json's "changed" said true for an unmodified checkout that held untracked files (git status
    --porcelain lists them); a real repository, an untracked file, then a tracked file edited."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tracked.txt").write_text("first\n")
    author = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "tracked.txt"], [*author, "commit", "-q", "-m", "first"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    assert working_tree(repo)["changed"] is False
    (repo / "untracked.txt").write_text("scratch\n")
    assert working_tree(repo)["changed"] is False
    (repo / "tracked.txt").write_text("edited\n")
    assert working_tree(repo) == {"commit": resolve("HEAD", repo), "changed": True}
