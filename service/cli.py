"""`mobile-vision-api`: serve, build models, and call a running service."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from service.bench import bench
from service.bench.ab import ab as bench_ab
from service.bench.batching_windows import batching as bench_batching
from service.bench.goals import goals as bench_goals
from service.bench.options import exit_codes, server_url
from service.bench.readme import bench_readme
from service.browserbench.command import bench_browser
from service.healthcheck import DEFAULT_PORT
from service.localserver import unwind_on_sigterm
from service.modelbuild.command import models_app

if TYPE_CHECKING:
    from service.client import QueryValue

app = typer.Typer(help="MobileNetV2 + BlazeFace inference service and its tools.", no_args_is_help=True)
app.add_typer(models_app, name="models")
# a server that does not start (one line naming its log) or a failed measurement ends these: exit 1
NOT_MEASURED = "a server did not start or a measurement failed (nothing written; one line on stderr)"
app.command(
    epilog=exit_codes(
        "every cell ran",
        "a cell failed (the others' figures are written, the failures listed on stderr), the server at "
        "--url went away, or a server did not start",
        "an invalid option (also a --url no server of this service answers at)",
    )
)(bench)
app.command("bench-goals", epilog=exit_codes("measured, goals.json written", NOT_MEASURED))(bench_goals)
app.command("bench-batching", epilog=exit_codes("measured, batching-t<threads>.json written", NOT_MEASURED))(
    bench_batching
)
app.command(
    "bench-ab",
    epilog=exit_codes(
        "measured, ab.json written",
        NOT_MEASURED,
        "an invalid option (a --variant, --env or --rev that is none, fewer than two variants)",
    ),
)(bench_ab)
app.command("bench-browser")(bench_browser)  # its docstring says its exit codes: it runs alone too
app.command(
    "bench-readme",
    epilog=exit_codes(
        "rewritten (a block whose artifacts are missing is left as it was, naming them on stderr; none "
        "rewritten is said on stdout)",
        "an artifact of another schema (an older version of the lab) or not JSON (e.g. cut short): the "
        "README is left as it was",
        starts_servers=False,
    ),
)(bench_readme)
# never break a path or a log line (output is copied and grepped); no markup: what is printed is data (a
# picture's name such as `cat[old].jpg`, a service's message), and `[/x]` in it ended in a MarkupError
console = Console(soft_wrap=True, markup=False)
# errors apart from the answer: `classify --json > answer.json` wrote a failure's text into the file
errors = Console(stderr=True, soft_wrap=True, markup=False)


@app.callback()
def _before_every_command(ctx: typer.Context) -> None:
    # the lab's commands start servers and browsers; `serve` keeps uvicorn's own SIGTERM handling
    if (ctx.invoked_subcommand or "").startswith("bench"):
        unwind_on_sigterm()


DEFAULT_URL = "http://127.0.0.1:8000"


class EventLoop(StrEnum):
    uvloop = "uvloop"
    asyncio = "asyncio"


class HttpParser(StrEnum):
    httptools = "httptools"
    h11 = "h11"


class LogLevel(StrEnum):
    # what logging knows by name: another word failed in dictConfig with a traceback
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="MVA_HOST", help="bind address")] = "127.0.0.1",
    # uvicorn takes any int: port 99999 would listen on 99999 % 65536 while logging 99999
    port: Annotated[int, typer.Option(envvar="MVA_PORT", min=0, max=65535, help="TCP port")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(envvar="MVA_WORKERS", min=1, help="uvicorn worker processes")] = 1,
    log_level: Annotated[
        LogLevel, typer.Option(envvar="MVA_LOG_LEVEL", case_sensitive=False)
    ] = LogLevel.info,
    loop: Annotated[
        EventLoop, typer.Option(envvar="MVA_LOOP", help="event loop (asyncio: to measure what uvloop buys)")
    ] = EventLoop.uvloop,
    http: Annotated[
        HttpParser, typer.Option(envvar="MVA_HTTP", help="HTTP/1.1 parser (h11: to measure httptools)")
    ] = HttpParser.httptools,
    log_format: Annotated[
        LogFormat, typer.Option(envvar="MVA_LOG_FORMAT", help="text, or one JSON object per line")
    ] = LogFormat.text,
    keep_alive_s: Annotated[
        float,
        typer.Option(
            envvar="MVA_KEEP_ALIVE_S",
            min=0.1,
            max=3600,  # finite: click's FloatRange lets `inf` through, and idle connections would never close
            help="close a client's idle connection after this long; behind a proxy, longer than the "
            "proxy keeps its idle connections (nginx's upstream keepalive_timeout)",
        ),
    ] = 5.0,
) -> None:
    """Run the HTTP service (uvicorn with uvloop and httptools). Settings: MVA_* environment variables.

    Exit codes: 0 after SIGTERM; 2: an invalid option or MVA_* value; 3: cannot bind (port in use).
    """
    import logging.config

    from service.logs import log_config
    from service.server import EXIT_CANNOT_LISTEN, CannotListen
    from service.server import serve as run_server
    from service.settings import ApiKeyFileError, InvalidServerSettings

    # this process logs alike before uvicorn applies the same configuration (loading the app's settings)
    logging.config.dictConfig(log_config(log_level.value, log_format.value))
    try:
        run_server(
            host, port, workers, log_level.value, loop.value, http.value, log_format.value, keep_alive_s
        )
    except (ApiKeyFileError, InvalidServerSettings) as exc:
        # configuration mistakes: a line each, no traceback
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    except CannotListen as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_LISTEN) from None


def _api_key(ctx: typer.Context, api_key: str | None, api_key_file: Path | None) -> tuple[str | None, str]:
    """The key to send, and where it came from (an option's or a variable's name, for a 401's hint; never
    the key): an option typed on the command line wins over the environment's variable (an
    MVA_API_KEY_FILE exported for a server outranked `--api-key`); --api-key-file when both come from
    the environment; both typed is a usage error."""
    from service.settings import read_api_key_file

    typed = {
        name
        for name in ("api_key", "api_key_file")
        if (source := ctx.get_parameter_source(name)) is not None and source.name == "COMMANDLINE"
    }
    if len(typed) == 2:
        raise typer.BadParameter("give --api-key or --api-key-file, not both", param_hint="--api-key-file")
    if api_key_file is None or typed == {"api_key"}:
        return api_key, "--api-key" if typed else "MVA_API_KEY"
    where = "--api-key-file" if typed else "MVA_API_KEY_FILE"
    return read_api_key_file(api_key_file, where), where


def _call(
    ctx: typer.Context,
    url: str,
    path: str,
    image: Path,
    params: Mapping[str, QueryValue],
    key: tuple[str | None, Path | None],
    raw: bool,
    timeout_s: float,
    render: Callable,
) -> None:
    """Post IMAGE, then print the raw JSON or the rendered answer and its timing."""
    import httpx

    from service.client import (
        ApiError,
        ProxyEnvironmentError,
        TimedOut,
        Unreachable,
        post_image,
        timing_table,
    )
    from service.settings import ApiKeyFileError

    chosen, where = None, ""  # the key and where it came from
    try:
        chosen, where = _api_key(ctx, *key)
        body = post_image(url, path, image, params, chosen, timeout_s)
    except (ApiError, Unreachable, ApiKeyFileError, ProxyEnvironmentError) as exc:
        errors.print(Text.assemble(("error:", "red"), f" {exc}"), highlight=False)
        if isinstance(exc, Unreachable) and exc.proxy is not None:
            around = f"NO_PROXY={httpx.URL(url).host}"
            if isinstance(exc, TimedOut):  # the proxy took it: it, or the service behind it, is slow
                errors.print(
                    f"the proxy or the service is slow: --timeout for longer, or {around} without it"
                )
            else:  # the refusal may be the proxy's
                errors.print(f"is the proxy running? {around} reaches the service without it")
        elif isinstance(exc, TimedOut):  # it runs: asking whether it does would send the user astray
            errors.print("the service took the request but is slow to answer: --timeout for longer")
        elif isinstance(exc, Unreachable):
            errors.print("is the service running? `make serve`, or --url / MVA_URL for another address")
        elif isinstance(exc, ApiError) and exc.status == 401:
            if chosen and chosen.strip():  # post_image sends it stripped, and none when nothing is left
                # "wants its key" alone read as: none was sent
                errors.print(f"the key sent ({where}) is not this service's: --api-key or --api-key-file")
            else:
                errors.print("the service wants its key: --api-key or --api-key-file (MVA_API_KEY[_FILE])")
        raise typer.Exit(1) from exc
    if raw:
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")  # a text line: a saved file or the shell's prompt starts on a new line
        return
    console.print(render(body, image.name))
    console.print(timing_table(body))


EngineOpt = Annotated[str | None, typer.Option(help="onnxruntime | litert")]
PrecisionOpt = Annotated[str | None, typer.Option(help="int8 | fp32")]
SimdOpt = Annotated[str | None, typer.Option(help="on | off")]
ThreadsOpt = Annotated[
    int | None, typer.Option(help="intra-op threads of the inference: 1 .. the server's inference cores")
]
PresetOpt = Annotated[str | None, typer.Option(help="scalar | simd | simd-threads | auto")]


# envvar, not a default read from the environment: a bad MVA_URL was reported as a bad --url
UrlOpt = Annotated[
    str,
    typer.Option(
        envvar="MVA_URL", show_envvar=True, callback=server_url, help="service URL; host:port means http://"
    ),
]
ImageArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="the image file")]
ApiKeyOpt = Annotated[
    str | None, typer.Option(envvar="MVA_API_KEY", show_envvar=True, help="sent as X-API-Key")
]
ApiKeyFileOpt = Annotated[
    Path | None,
    typer.Option(envvar="MVA_API_KEY_FILE", show_envvar=True, help="a file holding the key (compose secret)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the raw JSON")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.001, help="seconds to wait for the answer")]


# what a script calling `classify` or `detect` can tell apart, in both commands' --help
CLIENT_EXIT_CODES = (
    "Exit codes: 0 answered; 1: the request failed (an error answer, no service, no answer in time, "
    "a key file that cannot be read); 2: an invalid option or argument (no such IMAGE, a --url that is "
    "no address)."
)


@app.command(epilog=CLIENT_EXIT_CODES)
def classify(
    ctx: typer.Context,
    image: ImageArg,
    top_k: Annotated[int, typer.Option(help="how many labels, best first (1-1000)")] = 5,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    simd: SimdOpt = None,
    threads: ThreadsOpt = None,
    preset: PresetOpt = None,
    url: UrlOpt = DEFAULT_URL,
    api_key: ApiKeyOpt = None,
    api_key_file: ApiKeyFileOpt = None,
    raw: JsonOpt = False,
    timeout_s: TimeoutOpt = 60.0,
) -> None:
    """Classify IMAGE with a running service."""
    from service.client import predictions_table

    params = {"top_k": top_k, "engine": engine, "precision": precision, "simd": simd, "threads": threads}
    key = (api_key, api_key_file)
    _call(ctx, url, "/classify", image, params | {"preset": preset}, key, raw, timeout_s, predictions_table)


@app.command(epilog=CLIENT_EXIT_CODES)
def detect(
    ctx: typer.Context,
    image: ImageArg,
    model: Annotated[str, typer.Option(help="short | full")] = "short",
    # the route's own options; not given, not sent: the server's defaults (the manifest's) apply. Their
    # bounds are the server's to check, as --top-k's: its 422 names the option's query parameter
    min_score: Annotated[
        float | None, typer.Option(help="faces scoring below are dropped, 0-1 (default: the model's)")
    ] = None,
    iou_threshold: Annotated[
        float | None,
        typer.Option(
            help="overlap above which boxes merge (weighted NMS), over 0 up to 1 (default: the model's)"
        ),
    ] = None,
    max_faces: Annotated[
        int | None, typer.Option(help="at most this many faces, best first (1-1000; default: all)")
    ] = None,
    engine: EngineOpt = None,
    simd: SimdOpt = None,
    threads: ThreadsOpt = None,
    preset: PresetOpt = None,
    url: UrlOpt = DEFAULT_URL,
    api_key: ApiKeyOpt = None,
    api_key_file: ApiKeyFileOpt = None,
    raw: JsonOpt = False,
    timeout_s: TimeoutOpt = 60.0,
) -> None:
    """Detect faces in IMAGE with a running service."""
    from service.client import faces_table

    params: dict[str, QueryValue] = {
        "model": model,
        "engine": engine,
        "simd": simd,
        "threads": threads,
        "preset": preset,
        "min_score": min_score,
        "iou_threshold": iou_threshold,
        "max_faces": max_faces,
    }
    _call(ctx, url, "/detect", image, params, (api_key, api_key_file), raw, timeout_s, faces_table)


if __name__ == "__main__":
    app()
