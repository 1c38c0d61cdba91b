"""A command ended by a failure it expects (not a bug) says so in one line on stderr and exits 1: users
saw a traceback of 90 lines and more."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import typer

P = ParamSpec("P")


def exits_in_one_line(
    errors: tuple[type[Exception], ...], what: str
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """A decorator for a typer command: `errors` it raises end it with `error: <what>: <the error>`."""

    def decorate(command: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(command)  # typer reads the options from the wrapped function's signature
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                command(*args, **kwargs)
            except errors as exc:
                typer.echo(f"error: {what}: {exc}", err=True)
                raise typer.Exit(1) from None

        return run

    return decorate
