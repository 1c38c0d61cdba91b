"""What service/browserbench/run.py holds of the page it drives."""

from __future__ import annotations

from html.parser import HTMLParser

from service.browserbench.run import PAGE_MAX_ITERATIONS
from service.settings import PROJECT_ROOT


class _IterationsField(HTMLParser):
    """The attributes of the page's #iterations input."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input" and ("id", "iterations") in attrs:
            self.attrs = dict(attrs)


def test_the_iterations_bound_is_the_pages_own() -> None:
    """bench-browser's --iterations max is what the page runs at most (it holds a larger count to its
    field's max): the two may not drift apart."""
    field = _IterationsField()
    field.feed((PROJECT_ROOT / "web" / "src" / "index.html").read_text())
    assert field.attrs["max"] == str(PAGE_MAX_ITERATIONS)
