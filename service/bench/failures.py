"""What ends a lab command when a measurement fails (not a bug): one line on stderr and exit code 1,
nothing written, as its --help says (it was a traceback of 90 lines and more)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import typer

from service.bench.http import ServerFailed
from service.bench.load import LoadFailed

P = ParamSpec("P")
# the server answered other than 200 or not at all (ServerFailed); no request of a load succeeded, or
# a caller of the engine failed (LoadFailed)
MEASUREMENT_FAILED = (LoadFailed, ServerFailed)


def exits_when_a_measurement_fails(command: Callable[P, None]) -> Callable[P, None]:
    """The command's own `with` blocks have stopped the servers it started by the time this catches."""

    @functools.wraps(command)  # typer reads the options from the wrapped function's signature
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except MEASUREMENT_FAILED as exc:
            typer.echo(f"error: a measurement failed: {exc}", err=True)
            raise typer.Exit(1) from None

    return run
