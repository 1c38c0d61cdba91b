"""The command-line client against a real server."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperCommand, TyperGroup

from service.artifacts import ArtifactLayout
from service.cli import app
from service.cpu import has_vnni
from service.localserver import free_port
from tests.cli import run_cli
from tests.conftest import (
    API_KEY,
    BROKEN_MANIFESTS,
    LiveServer,
    http_server,
    models_with_int8_signed,
    write_broken_manifest,
)
from tests.readme import DOCS, commands, option_names, options


def test_classify_prints_labels_and_timing(server: LiveServer, images: Path) -> None:
    result = run_cli("classify", str(images / "grace_hopper.bmp"), "--url", server.url, "--top-k", "3")
    assert result.returncode == 0, result.stderr
    assert "military uniform" in result.stdout
    assert "inference" in result.stdout and "timing (ms)" in result.stdout


def test_detect_json_output(server: LiveServer, images: Path) -> None:
    result = run_cli("detect", str(images / "face.jpg"), "--model", "full", "--url", server.url, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["faces"]) == 4
    assert result.stdout.endswith("}\n")  # it ended without a newline: `> faces.json` was not a text file


@pytest.mark.parametrize(
    ("options", "count"),
    [
        (["--max-faces", "1"], 1),
        (["--min-score", "0.8"], 2),
        (["--min-score", "0.99"], 0),
    ],
)
def test_detect_takes_the_routes_detection_options(
    server: LiveServer, images: Path, options: list[str], count: int
) -> None:
    """face.jpg has 4 faces with model full at the manifest's thresholds (test_detect_json_output)."""
    face = str(images / "face.jpg")
    result = run_cli("detect", face, "--model", "full", *options, "--url", server.url, "--json")
    assert result.returncode == 0, result.stderr
    scores = [f["score"] for f in json.loads(result.stdout)["faces"]]
    assert len(scores) == count
    if "--min-score" in options:
        assert min(scores, default=1.0) >= float(options[1])


def test_detect_sends_its_overlap_threshold_as_the_route_takes_it(server: LiveServer, images: Path) -> None:
    """At an IoU threshold of 1 no two boxes of a face merge: more faces than at the model's 0.3."""
    face = images / "face.jpg"
    query = {"model": "full", "iou_threshold": "1"}
    with server.client() as client:
        direct = client.post("/detect", params=query, files={"image": face.read_bytes()}).json()["faces"]
    result = run_cli(
        "detect", str(face), "--model", "full", "--iou-threshold", "1", "--url", server.url, "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["faces"] == direct and len(direct) > 4


def test_a_detection_option_out_of_range_is_the_servers_422(server: LiveServer, images: Path) -> None:
    result = run_cli("detect", str(images / "face.jpg"), "--max-faces", "0", "--url", server.url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: 422 invalid_parameter: max_faces:"), result.stderr


def test_client_reports_api_errors(server: LiveServer, images: Path) -> None:
    result = run_cli("classify", str(images / "cat.bmp"), "--simd", "off", "--url", server.url)
    assert result.returncode == 1
    assert "invalid_settings" in result.stderr


def test_an_error_is_printed_as_it_was_said(server: LiveServer, images: Path, tmp_path: Path) -> None:
    """The client printed its errors as rich markup: a key file's path such as `k[/x]` ended in a
    MarkupError traceback, and `[old]` vanished from the line."""
    for name in ("k[/x]", "k[old]"):
        key_file = tmp_path / name  # not there: the error names it
        result = run_cli(
            "classify", str(images / "cat.bmp"), "--api-key-file", str(key_file), "--url", server.url
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: ") and name in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_an_answer_names_its_picture_as_it_is_called(
    server: LiveServer, images: Path, tmp_path: Path
) -> None:
    """The answer's table was printed as rich markup: a picture named `cat[bold].bmp` was shown as
    `cat.bmp` (and a `[/x]` in a name would end in a MarkupError traceback)."""
    picture = tmp_path / "cat[bold].bmp"
    shutil.copy(images / "cat.bmp", picture)
    result = run_cli("classify", str(picture), "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert "cat[bold].bmp" in result.stdout


def test_an_error_goes_to_stderr_never_into_the_json_answer(server: LiveServer, images: Path) -> None:
    """`classify --json > answer.json` wrote the failure's text into answer.json, and the terminal showed
    nothing: stdout holds answers only, as with every other failure of the client."""
    args = ("classify", str(images / "cat.bmp"), "--json", "--timeout", "30")
    refused = run_cli(*args, "--simd", "off", "--url", server.url)
    unreachable = run_cli(*args, "--url", f"http://127.0.0.1:{free_port()}")
    for result in (refused, unreachable):
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: "), result.stderr
    assert "invalid_settings" in refused.stderr and "make serve" in unreachable.stderr


def test_the_key_from_an_option_a_file_or_the_environment(
    guarded: LiveServer, images: Path, tmp_path: Path
) -> None:
    image = str(images / "cat.bmp")
    refused = run_cli("classify", image, "--url", guarded.url)
    assert refused.returncode == 1
    assert "401 unauthorized" in refused.stderr
    assert "the service wants its key: --api-key or --api-key-file" in refused.stderr, refused.stderr
    # a key sent and refused: the same hint read as "none was sent"; it names where the key came from
    secret = tmp_path / "api_key"
    secret.write_text("not-the-key\n")
    for given, env, where in [
        (["--api-key", "not-the-key"], {}, "--api-key"),
        ([], {"MVA_API_KEY": "not-the-key"}, "MVA_API_KEY"),
        (["--api-key-file", str(secret)], {}, "--api-key-file"),
        ([], {"MVA_API_KEY_FILE": str(secret)}, "MVA_API_KEY_FILE"),
    ]:
        wrong = run_cli("classify", image, "--url", guarded.url, *given, env=os.environ | env)
        assert wrong.returncode == 1 and "401 unauthorized" in wrong.stderr
        hint = f"the key sent ({where}) is not this service's: --api-key or --api-key-file"
        assert hint in wrong.stderr and "not-the-key" not in wrong.stderr, wrong.stderr
    assert "Egyptian cat" in run_cli("classify", image, "--url", guarded.url, "--api-key", API_KEY).stdout
    secret.write_text(API_KEY + "\n")  # as `make api-key` writes compose's secret
    by_file = run_cli("detect", str(images / "face.jpg"), "--url", guarded.url, "--api-key-file", str(secret))
    assert by_file.returncode == 0 and "2 face(s)" in by_file.stdout
    by_env = run_cli("classify", image, "--url", guarded.url, env={**os.environ, "MVA_API_KEY": API_KEY})
    assert by_env.returncode == 0 and "Egyptian cat" in by_env.stdout


def test_a_key_typed_on_the_command_line_wins_over_the_environment(
    guarded: LiveServer, images: Path, tmp_path: Path
) -> None:
    """MVA_API_KEY_FILE exported (a server's, in its container) outranked a typed `--api-key`: 401.
    Both options typed: one was silently dropped; now a usage error."""
    stale = tmp_path / "stale_key"
    stale.write_text("not-the-key\n")
    right = tmp_path / "api_key"
    right.write_text(API_KEY + "\n")
    classify = ("classify", str(images / "cat.bmp"), "--url", guarded.url)
    typed = run_cli(*classify, "--api-key", API_KEY, env=os.environ | {"MVA_API_KEY_FILE": str(stale)})
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "Egyptian cat" in typed.stdout
    typed_file = run_cli(*classify, "--api-key-file", str(right), env=os.environ | {"MVA_API_KEY": "not"})
    assert typed_file.returncode == 0, typed_file.stdout + typed_file.stderr
    both = run_cli(*classify, "--api-key", API_KEY, "--api-key-file", str(right))
    assert both.returncode == 2
    assert "give --api-key or --api-key-file, not both" in both.stderr, both.stderr


def test_a_key_with_its_newline_is_sent_without_it(guarded: LiveServer, images: Path) -> None:
    """MVA_API_KEY="$(cat file)" strips the newline, a secret passed as a variable keeps it: httpx refused
    the header, and the CLI said there was no answer and asked whether the service was running."""
    env = {**os.environ, "MVA_API_KEY": f" {API_KEY}\n"}
    result = run_cli("classify", str(images / "cat.bmp"), "--url", guarded.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Egyptian cat" in result.stdout


def test_no_service_is_one_line_and_a_hint() -> None:
    result = run_cli("classify", str(Path(__file__)), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "no answer from http://127.0.0.1:" in result.stderr and "make serve" in result.stderr


def test_no_answer_from_a_proxy_names_the_proxy(images: Path) -> None:
    """The proxy in HTTP_PROXY refused the connection, and the CLI said the service gave no answer and
    asked whether it was running: it names the proxy now, and how to go around it."""
    proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused
    env = os.environ | {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
    result = run_cli("classify", str(images / "face.jpg"), "--url", "service.invalid:80", env=env)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    error, hint = result.stderr.splitlines()
    # refused: the proxy's port (service.invalid could not even be looked up, had httpx gone direct)
    assert error.startswith(f"error: no answer from http://service.invalid:80 through the proxy {proxy}: ")
    assert "Connection refused" in error, error
    assert hint == "is the proxy running? NO_PROXY=service.invalid reaches the service without it"


def test_a_proxy_variable_httpx_cannot_read_is_one_line_not_a_traceback(images: Path) -> None:
    env = os.environ | {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "[fd00::1]", "no_proxy": "[fd00::1]"}
    result = run_cli("classify", str(images / "face.jpg"), "--url", "http://service.invalid", env=env)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "error: the proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY)"
    )


def test_a_url_without_a_scheme_means_http(server: LiveServer, images: Path) -> None:
    bare = server.url.removeprefix("http://")  # 127.0.0.1:PORT, as typed for curl
    result = run_cli("classify", str(images / "cat.bmp"), "--url", bare)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Egyptian cat" in result.stdout


def test_a_url_with_another_scheme_is_a_usage_error(images: Path) -> None:
    wide = {**os.environ, "COLUMNS": "200"}  # rich's error box would wrap the line at 80
    result = run_cli("classify", str(images / "cat.bmp"), "--url", "ftp://127.0.0.1:8000", env=wide)
    assert result.returncode == 2
    assert "'ftp://127.0.0.1:8000' is not an http:// or https:// URL" in result.stderr


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("127.0.0.1:port", "'http://127.0.0.1:port' is not a URL: Invalid port: 'port'"),
        ("http://[::1", "'http://[::1' is not a URL"),
        ("", "'http://' names no host"),
        ("127.0.0.1:99999", "'http://127.0.0.1:99999': the port must be at most 65535"),
    ],
)
def test_a_url_that_is_no_address_is_a_usage_error(url: str, said: str, images: Path) -> None:
    """A typo in the port or the brackets was a traceback from httpx (exit 1); no host ran into DNS
    ("no answer from http://"); port 99999 was dialled as 34463."""
    wide = {**os.environ, "COLUMNS": "200"}
    result = run_cli("classify", str(images / "cat.bmp"), "--url", url, env=wide)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert said in result.stderr, result.stderr


def test_mva_url_is_used_and_a_bad_one_named_as_the_variable(server: LiveServer, images: Path) -> None:
    """MVA_URL was read as --url's default, so a bad one in a shell profile was reported as a bad
    `--url` the user never typed; a good one is where the CLI goes, --url still first."""
    wide = {**os.environ, "COLUMNS": "200"}
    used = run_cli("classify", str(images / "cat.bmp"), env=wide | {"MVA_URL": server.url})
    assert used.returncode == 0 and "Egyptian cat" in used.stdout, used.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    overridden = run_cli(
        "classify", str(images / "cat.bmp"), "--url", server.url, env=wide | {"MVA_URL": nobody}
    )
    assert overridden.returncode == 0 and "Egyptian cat" in overridden.stdout, overridden.stderr
    bad = run_cli("classify", str(images / "cat.bmp"), env=wide | {"MVA_URL": ":1"})
    assert bad.returncode == 2 and "Traceback" not in bad.stdout + bad.stderr
    assert "Invalid value for '--url' (env var: 'MVA_URL'): 'http://:1' names no host" in bad.stderr
    assert "[env var: MVA_URL]" in run_cli("classify", "--help", env=wide).stdout


def test_a_missing_image_file_is_a_usage_error() -> None:
    result = run_cli("classify", "/no/such/image.jpg")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_a_proxy_error_page_is_shown_not_crashed_on(proxy_error_page: str, images: Path) -> None:
    result = run_cli("classify", str(images / "cat.bmp"), "--url", proxy_error_page)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "502 Bad Gateway: <html> <head><title>502 Bad Gateway</title></head>" in result.stderr


def _answering_200(body: bytes) -> type[BaseHTTPRequestHandler]:
    """A handler that answers every POST 200 with `body`: another server than the service at --url."""

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Answer


@pytest.mark.parametrize("body", [b"<html>a login page</html>", b'{"status": "ok"}', b"[]"])
def test_a_200_that_is_not_the_services_answer_is_one_line(body: bytes, images: Path) -> None:
    """A --url where another server answers 200 (a web server, a login portal) ended in a traceback: a
    JSONDecodeError for its HTML, a KeyError for another JSON."""
    with http_server(_answering_200(body)) as url:
        result = run_cli("classify", str(images / "cat.bmp"), "--url", url)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    (error,) = result.stderr.splitlines()
    assert error == f"error: 200 OK, but not the service's answer: {body.decode()}"


def test_a_proxy_in_the_environment_is_not_asked_for_a_loopback_service(
    server: LiveServer, proxy_error_page: str, images: Path
) -> None:
    """HTTP_PROXY (Docker puts one in every container) was asked for 127.0.0.1, which it cannot reach:
    a proxy's error, or no answer. Another host still goes through it (here it answers 502)."""
    nothing = f"http://127.0.0.1:{free_port()}"
    proxied = {"HTTP_PROXY": nothing, "http_proxy": nothing, "NO_PROXY": "", "no_proxy": ""}
    image = str(images / "cat.bmp")
    local = run_cli("classify", image, "--url", server.url, env=os.environ | proxied)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "Egyptian cat" in local.stdout
    through = {"HTTP_PROXY": proxy_error_page, "http_proxy": proxy_error_page}
    remote = run_cli("classify", image, "--url", "http://service.example", env=os.environ | proxied | through)
    assert remote.returncode == 1 and "502 Bad Gateway" in remote.stderr, remote.stderr


def test_serve_with_invalid_settings_says_which_variable_and_stops(tmp_path: Path) -> None:
    env = {**os.environ, "MVA_ENGINE": "foo", "MVA_THREADS": "abc", "MVA_MODELS_DIR": str(tmp_path)}
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: MVA_MODELS_DIR: no manifest.json there: it should be the models folder (manifest.json, "
        f"build/) (got {str(tmp_path)!r})",
        "error: MVA_ENGINE: Input should be 'onnxruntime' or 'litert' (got 'foo')",
        "error: MVA_THREADS: Input should be a valid integer, unable to parse string as an integer "
        "(got 'abc')",
    ]


@pytest.mark.parametrize("said", BROKEN_MANIFESTS)
def test_serve_with_a_manifest_that_is_none_names_it_in_one_line(
    layout: ArtifactLayout, tmp_path: Path, said: str
) -> None:
    """A manifest.json missing a key was a KeyError traceback (exit 1); one cut short was named
    `MVA_:`, no variable, and not the file."""
    manifest = write_broken_manifest(layout.manifest, tmp_path / "models", said)
    env = os.environ | {"MVA_MODELS_DIR": str(manifest.parent)}
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert (result.returncode, result.stdout) == (2, "")
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: MVA_MODELS_DIR: {manifest}: {said}"), error


def test_serve_names_a_broken_manifest_only_once_every_other_variable_parses(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """The manifest is read by a check that runs after the types (README, "MVA_MODELS_DIR"): beside
    another variable's type error, the first start names that one, and the next one the manifest."""
    manifest = write_broken_manifest(layout.manifest, tmp_path / "models", BROKEN_MANIFESTS[0])
    env = os.environ | {"MVA_MODELS_DIR": str(manifest.parent), "MVA_THREADS": "abc"}
    first = run_cli("serve", "--port", str(free_port()), env=env)
    assert first.returncode == 2
    (error,) = first.stderr.splitlines()
    assert error.startswith("error: MVA_THREADS: "), error
    next_start = run_cli("serve", "--port", str(free_port()), env=env | {"MVA_THREADS": "1"})
    assert next_start.returncode == 2
    (error,) = next_start.stderr.splitlines()
    assert error.startswith(f"error: MVA_MODELS_DIR: {manifest}: "), error


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "address already in use"),
        ("192.0.2.1", "cannot assign requested address"),  # TEST-NET-1 (RFC 5737): no host of ours
    ],
    ids=["port-in-use", "not-this-machine-s"],
)
def test_serve_on_an_address_it_cannot_bind_says_so_in_one_line(workers: str, host: str, why: str) -> None:
    """It was uvicorn's own log line (`[Errno 98] ...`) among others, exit 3; with one process only once
    the app had started and begun warming up its models. Now one line that names the address: a port in
    use, or a host that is not this machine's."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--host", host, "--port", str(port), "--workers", workers)
    assert result.returncode == 3, result.stderr
    assert result.stderr == (
        f"error: cannot listen on {host}:{port}: {why} (--host/--port, MVA_HOST/MVA_PORT)\n"
    )


AUTO_TUNE_UNKNOWN = "error: MVA_AUTO_TUNE_MODELS: not in the manifest: resnet50 (known: mobilenet_v2"


@pytest.mark.parametrize(
    ("workers", "variable", "value", "said"),
    [
        ("2", "MVA_SIMD", "off", "error: MVA_SIMD: onnxruntime cannot switch SIMD off"),
        # a model the manifest does not name would never be tuned: no start (as for MVA_WARM_MODELS)
        *((workers, "MVA_AUTO_TUNE_MODELS", '["resnet50"]', AUTO_TUNE_UNKNOWN) for workers in ("1", "2")),
    ],
)
def test_serve_checks_the_settings_before_starting_a_process(
    workers: str, variable: str, value: str, said: str
) -> None:
    """The server does not start: one line, exit 2; with `--workers N` the supervisor's line alone (no
    worker started to say it again)."""
    env = {**os.environ, variable: value}
    result = run_cli("serve", "--port", str(free_port()), "--workers", workers, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(said), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_serve_refuses_int8_signed_by_name_from_a_build_that_did_not_verify_it(
    layout: ArtifactLayout, tmp_path: Path
) -> None:
    """A models folder built on a host without VNNI (its lock says int8-signed.onnx was skipped):
    `serve` with MVA_ORT_INT8_WEIGHTS=signed ran it; it now stops before listening, and says why."""
    models = models_with_int8_signed(layout, tmp_path / "models", verified=False)
    env = {**os.environ, "MVA_ORT_INT8_WEIGHTS": "signed", "MVA_MODELS_DIR": str(models.root)}
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2, result.stderr
    # a CPU without VNNI is refused first, whatever the build verified (tests/test_settings.py)
    why = (
        "mobilenet_v2/int8-signed.onnx was not verified (the build skipped it"
        if has_vnni()
        else "int8-signed.onnx gives int8.onnx's answers only on a CPU with VNNI"
    )
    assert result.stderr.startswith(f"error: MVA_ORT_INT8_WEIGHTS: {why}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--port", "99999"], "--port"), (["--port", "-1"], "--port"), (["--workers", "0"], "--workers")],
)
def test_serve_refuses_a_port_or_worker_count_out_of_range(args: list[str], option: str) -> None:
    """Port 99999 listened on 34463 while the log said 99999; --workers 0 ran one process. (The invalid
    MVA_ENGINE stops a serve that took them before it listens, with another message.)"""
    result = run_cli("serve", *args, env={**os.environ, "MVA_ENGINE": "foo"})
    assert result.returncode == 2
    assert f"Invalid value for '{option}'" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "option"),
    [
        ("MVA_PORT", "tcp://10.0.0.1:80", "--port"),
        ("MVA_WORKERS", "0", "--workers"),
        ("MVA_KEEP_ALIVE_S", "inf", "--keep-alive-s"),  # idle connections that never close
    ],
)
def test_serves_own_variables_are_refused_as_its_options(variable: str, value: str, option: str) -> None:
    """README, Settings: they are `serve`'s options read from the environment, so a bad one is the usage
    error naming the option and the variable, and it comes alone (MVA_ENGINE is not read yet)."""
    env = os.environ | {variable: value, "MVA_ENGINE": "foo", "COLUMNS": "200"}
    result = run_cli("serve", env=env)
    assert result.returncode == 2
    assert f"Invalid value for '{option}' (env var: '{variable}')" in result.stderr, result.stderr
    assert "MVA_ENGINE" not in result.stderr


def test_serve_refuses_an_unknown_log_level_in_one_message() -> None:
    """It was a traceback from logging's dictConfig, exit 1; a known level in capitals still works."""
    result = run_cli("serve", "--port", str(free_port()), "--log-level", "verbose")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Invalid value for '--log-level'" in result.stderr, result.stderr
    upper = run_cli(
        "serve", "--port", str(free_port()), "--log-level", "WARNING", env={**os.environ, "MVA_ENGINE": "foo"}
    )
    assert upper.returncode == 2 and upper.stderr.startswith("error: MVA_ENGINE:"), upper.stderr


def test_every_option_of_classify_and_detect_says_what_it_takes() -> None:
    """--top-k and --threads had no help text: `classify --help` listed them bare."""
    for command in ("classify", "detect"):
        result = run_cli(command, "--help", env=os.environ | {"COLUMNS": "200"})
        assert result.returncode == 0, result.stderr
        options = [line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith("--")]
        bare = [line.split()[1] for line in options if len(line.strip("│ ").split()) <= 2]
        assert options and bare == [], (command, bare)
    text = run_cli("classify", "--help", env=os.environ | {"COLUMNS": "200"}).stdout
    assert "how many labels, best first (1-1000)" in text and "intra-op threads of the inference" in text


BENCH_EXIT_CODES = [0, 1, 2, 130]  # 130: a SIGTERM (tests/bench/test_ab.py), or Ctrl-C


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        (["serve"], [0, 2, 3]),  # no 1: it refuses with 2 or 3
        (["classify"], [0, 1, 2]),
        (["detect"], [0, 1, 2]),
        (["models", "build"], [0, 1, 2]),
        (["models", "mirror"], [0, 1, 2]),
        (["bench"], BENCH_EXIT_CODES),
        (["bench-goals"], BENCH_EXIT_CODES),
        (["bench-ab"], BENCH_EXIT_CODES),
        (["bench-batching"], BENCH_EXIT_CODES),
        (["bench-browser"], BENCH_EXIT_CODES),
        (["bench-readme"], [0, 1, 2]),  # starts no server: nothing to stop on a SIGTERM
    ],
)
def test_every_command_says_its_exit_codes_in_its_help(command: list[str], codes: list[int]) -> None:
    """Only `serve --help` said what its exit codes mean: a script around `classify` or `models build`
    had to read the source to tell a failed request (1) from a mistyped option (2), and the bench
    commands (a CI job's) still did not say theirs. The codes themselves are the ones the tests of
    each command see (2 a usage error, as click's own)."""
    result = run_cli(*command, "--help", env=os.environ | {"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    lines = [line.strip(" │") for line in result.stdout.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Exit codes: 0 ")]
    assert len(starts) == 1, result.stdout
    # a docstring's paragraph keeps its line breaks in the help: read on to the blank line
    said = " ".join(itertools.takewhile(bool, lines[starts[0] :]))
    assert [int(code) for code in re.findall(r"(?:^Exit codes: |; )(\d+)\b", said)] == codes, said


def test_a_service_that_does_not_answer_in_time_is_not_called_unreachable(images: Path) -> None:
    """A read timeout (the service took the request: a first preset=auto measures for seconds) got the
    hint for a service that is not running. It now says the service is slow, and --timeout sets the
    wait (60 s, fixed before)."""
    with socket.socket() as listening:  # the kernel completes connections; nothing ever answers
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        result = run_cli("classify", str(images / "cat.bmp"), "--url", url, "--timeout", "0.5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"no answer from {url} within 0.5 s" in result.stderr
    assert "--timeout for longer" in result.stderr and "is the service running?" not in result.stderr
    with socket.socket() as listening:  # a proxy that takes the request and never answers
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        proxy = f"http://127.0.0.1:{listening.getsockname()[1]}"
        env = os.environ | {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
        url = "http://service.invalid"
        # face.jpg, not the 0.5 MB cat.bmp: sent whole into the kernel's buffers, so it is the read that
        # times out, not the write
        result = run_cli("classify", str(images / "face.jpg"), "--url", url, "--timeout", "0.5", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    error, hint = result.stderr.splitlines()
    assert error == f"error: no answer from {url} through the proxy {proxy} within 0.5 s"
    # the proxy took the request: it, or the service behind it, is slow
    assert (
        hint
        == "the proxy or the service is slow: --timeout for longer, or NO_PROXY=service.invalid without it"
    )


def test_an_unreadable_key_file_is_named_as_it_was_given(images: Path, tmp_path: Path) -> None:
    """A typed --api-key-file that cannot be read was reported as MVA_API_KEY_FILE, a variable the user
    never set. Nothing is sent: the error comes before any request."""
    missing = str(tmp_path / "no-such-key")
    classify = ("classify", str(images / "cat.bmp"), "--url", f"http://127.0.0.1:{free_port()}")
    typed = run_cli(*classify, "--api-key-file", missing)
    assert typed.returncode == 1
    assert f"--api-key-file {missing!r} cannot be read: No such file or directory" in typed.stderr
    from_env = run_cli(*classify, env=os.environ | {"MVA_API_KEY_FILE": missing})
    assert from_env.returncode == 1
    assert f"MVA_API_KEY_FILE {missing!r} cannot be read: No such file or directory" in from_env.stderr


def _command_of(cli: TyperGroup, words: list[str]) -> tuple[list[str], TyperGroup | TyperCommand | None]:
    """The command the words name (down the groups, `models build`), and its path; None: no such one."""
    command: TyperGroup | TyperCommand = cli
    path = ["mobile-vision-api"]
    for word in words:
        if not isinstance(command, TyperGroup) or word.startswith("-"):
            break
        path.append(word)
        if word not in command.commands:
            return path, None
        command = command.commands[word]
    return path, command


def unknown_cli_words(readme: Path) -> list[str]:
    """Each command or option of `mobile-vision-api` the README shows that the CLI lacks: in a command
    line, or in a span its prose starts with a command's name (`serve --workers N`, `bench-ab --rev`)."""
    cli = typer.main.get_command(app)
    assert isinstance(cli, TyperGroup)
    shown = commands(readme, ("mobile-vision-api",)) + [
        [name, *words] for name in cli.commands for words in commands(readme, (name,))
    ]
    unknown = []
    for words in shown:
        path, command = _command_of(cli, words)
        if command is None:
            unknown.append(" ".join(path))
            continue
        known = option_names(command) | {"--help"}
        unknown += [f"{' '.join(path)} {option}" for option in options(words) if option not in known]
    return sorted(set(unknown))


def test_every_command_and_option_the_readme_shows_the_cli_has() -> None:
    assert [word for doc in DOCS for word in unknown_cli_words(doc)] == []


def test_a_command_or_option_the_cli_lacks_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "```bash\n.venv/bin/mobile-vision-api classify x.jpg --top-k 3 --topk 3\n"
        "MVA_PORT=1 mobile-vision-api models biuld --mirror m\n```\n"
        "`serve --workers 2 --wrokers 2`, `bench-ab --rev=main --revision main`, `mobile-vision-api sevre`\n"
    )
    assert unknown_cli_words(readme) == [
        "mobile-vision-api bench-ab --revision",
        "mobile-vision-api classify --topk",
        "mobile-vision-api models biuld",
        "mobile-vision-api serve --wrokers",
        "mobile-vision-api sevre",
    ]
