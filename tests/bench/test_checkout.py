"""service/bench/checkout.py: another revision checked out beside this one, and gone afterwards."""

from __future__ import annotations

import subprocess

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
