"""`python -m loadtests.run`: what its help tells a user who runs it without make."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from loadtests.launch import LoadResult
from loadtests.report import RunReport
from loadtests.run import app, report
from tests.loadtests.conftest import locust_options, signal_under_load
from tests.readme import DOCS, commands, option_names, options


def test_run_help_names_the_locustfile_options_it_passes_on() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Options after these go to the locustfile" in text and "--mva-engine" in text
    assert "no request was made" in text
    # --host's default is MVA_URL's value (LOCUST_HOST first): the help showed the fixed URL alone
    assert "[env var: LOCUST_HOST] [default: ($MVA_URL, else http://127.0.0.1:8000)]" in text


# what `make loadtest` and `make compare` run, with LOADTEST_ARGS after the options they set
MAKE_TARGETS = {"loadtest": "run", "compare": "compare"}


def unknown_run_options(readme: Path) -> list[str]:
    """Each option the README gives `python -m loadtests.run <command>` (or through `make loadtest` /
    `make compare` LOADTEST_ARGS="...") that the command lacks and the locustfile, to which the commands
    pass the options they do not know, lacks too; and each command it lacks."""
    cli = typer.main.get_command(app)
    assert isinstance(cli, TyperGroup)
    shown = commands(readme, ("python", "-m", "loadtests.run"))
    unknown = []
    for target, *variables in (words for words in commands(readme, ("make",)) if words):
        for passed in (v.removeprefix("LOADTEST_ARGS=") for v in variables if v.startswith("LOADTEST_ARGS=")):
            if target in MAKE_TARGETS:
                shown.append([MAKE_TARGETS[target], *passed.split()])
            else:
                unknown.append(f"make {target} LOADTEST_ARGS")  # a target that passes them nowhere
    for name, *words in (words for words in shown if words):
        if name not in cli.commands:
            unknown.append(name)
            continue
        known = option_names(cli.commands[name])
        unknown += [f"{name} {o}" for o in options(words) if o not in known | locust_options()]
    return sorted(set(unknown))


def test_every_option_the_readme_gives_loadtests_run_exists() -> None:
    assert [option for doc in DOCS for option in unknown_run_options(doc)] == []


def test_an_option_neither_loadtests_run_nor_the_locustfile_has_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "```bash\npython -m loadtests.run run --users 2 --mva-engine litert --user 2 --mva-engnie litert\n"
        'make loadtest LOADTEST_ARGS="--mva-threads 2 --mva-thread 2"\nmake loadtest-ci LOADTEST_ARGS=-u2\n'
        "```\n"
        "`python -m loadtests.run compare --rounds=2 --round 2`, `python -m loadtests.run comapre`\n"
    )
    assert unknown_run_options(readme) == [
        "comapre",
        "compare --round",
        "make loadtest-ci LOADTEST_ARGS",
        "run --mva-engnie",
        "run --mva-thread",
        "run --user",
    ]


def test_a_folder_without_pictures_stops_every_command_before_it_starts(tmp_path: Path) -> None:
    """Exit 2 at once, naming the folder: no locust run of the whole run time, no server started."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    for command in (["run", "--host", "http://127.0.0.1:9"], ["ci"], ["compare", "--only", "ours"]):
        out = tmp_path / command[0]
        result = CliRunner().invoke(
            app, [*command, "-t", "10m", "--images", str(empty), "--out", str(out)], env={"COLUMNS": "300"}
        )
        assert result.exit_code == 2, result.output
        assert "no images (" in result.output and str(empty) in " ".join(result.output.split())
        assert not out.exists()  # nothing ran, nothing was written


def test_ci_and_compare_send_the_key_of_the_server_they_start(images: Path, tmp_path: Path) -> None:
    """With MVA_API_KEY (or MVA_API_KEY_FILE) in the environment, the service that `ci` and `compare`
    start requires it: their locust users and warm-up requests send it, instead of failing with 401s."""
    secret = tmp_path / "api_key"
    secret.write_text("ci-key\n")
    env = {"MVA_API_KEY_FILE": str(secret), "MVA_LOADTEST_API_KEY": None, "MVA_LOADTEST_API_KEY_FILE": None}
    short = ["-u", "1", "-t", "2s", "--images", str(images)]
    ci = CliRunner().invoke(app, ["ci", *short, "--out", str(tmp_path / "ci")], env=env)
    assert ci.exit_code == 0, ci.output
    summary = json.loads((tmp_path / "ci" / "ci_summary.json").read_text())
    assert summary["endpoints"][-1]["requests"] > 0 and summary["errors"] == []

    env = {"MVA_API_KEY": "compare-key", "MVA_LOADTEST_API_KEY": None, "MVA_LOADTEST_API_KEY_FILE": None}
    out = tmp_path / "compare"
    compared = CliRunner().invoke(
        app, ["compare", *short, "--only", "ours", "--rounds", "1", "--out", str(out)], env=env
    )
    assert compared.exit_code == 0, compared.output
    [row] = json.loads((out / "compare.json").read_text())["results"]
    assert row["service"] == "ours" and row["requests"] > 0 and row["failures"] == 0


def test_compare_refuses_a_choice_that_runs_nothing(tmp_path: Path) -> None:
    """A misspelt --only (or --rounds 0) is an error at once: not a run of nothing that writes an empty
    table over the last compare.{md,json}."""
    out = tmp_path / "compare"
    for args, message in (
        (["--only", "ours", "--only", "bento"], "no service named bento: choose from ours, naive, bentoml"),
        (["--rounds", "0"], "--rounds"),
    ):
        result = CliRunner().invoke(app, ["compare", *args, "--out", str(out)], env={"COLUMNS": "300"})
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
        assert not out.exists()


def test_compare_refuses_options_that_would_change_ours_model_alone(images: Path, tmp_path: Path) -> None:
    """--mva-precision fp32 (or MVA_LOADTEST_ENGINE=litert) went to every request, ours followed it and
    the baselines, which ignore query parameters, stayed on the int8 file: not the same model. It is
    an error at once, as for MVA_PRECISION (which the baselines follow) it is not; --mva-prec fp32 too,
    which locust takes as --mva-precision (it ran, before)."""
    out = tmp_path / "compare"
    short = [
        "--only",
        "naive",
        "--rounds",
        "1",
        "-u",
        "1",
        "-t",
        "1s",
        "--images",
        str(images),
        "--out",
        str(out),
    ]
    refused = (
        (["--mva-precision", "fp32"], {}),
        (["--mva-prec", "fp32"], {}),  # locust reads a prefix as the option
        ([], {"MVA_LOADTEST_ENGINE": "litert"}),
    )
    for extra, env in refused:
        result = CliRunner().invoke(app, ["compare", *short, *extra], env={"COLUMNS": "300", **env})
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "compare runs every service on the same model file" in text
        assert (extra or list(env))[0] in text
        assert not out.exists()


def test_a_sigterm_stops_the_ci_run_its_server_and_its_locusts(images: Path, tmp_path: Path) -> None:
    """A CI job's timeout (GNU timeout sends SIGTERM to the command's process group) during `ci` with a
    worker: the command stops everything it started, the service and locust's master and worker, with
    the master's reports written. SIGTERM killed this process alone and left them running: the server
    (a session of its own) until someone killed it, the locusts through their whole run time."""
    command = [sys.executable, "-m", "loadtests.run", "ci", "-u", "1", "-r", "1", "-t", "5m",
               "--workers", "1", "--images", str(images), "--out", str(tmp_path)]  # fmt: skip
    interrupted = signal_under_load(command, tmp_path / "ci_stats_history.csv", signal.SIGTERM)
    assert len(interrupted.started) >= 3  # the service, master and worker
    assert interrupted.exit_code != 0
    assert interrupted.left_running == []
    assert json.loads((tmp_path / "ci_summary.json").read_text())["endpoints"][-1]["requests"] > 0


def test_compare_ends_non_zero_when_a_service_could_not_be_measured(images: Path, tmp_path: Path) -> None:
    """Ours answered its warm-up with 401 (a key locust does not send): its row said "not run", and the
    command still exited 0, so a script or CI job took an empty comparison for a good one. A service
    not installed here (`missing`, BentoML without its venv) stays no failure."""
    env = {
        "MVA_API_KEY": "server-key",
        "MVA_LOADTEST_API_KEY": "another-key",
        "MVA_LOADTEST_API_KEY_FILE": None,
    }
    out = tmp_path / "compare"
    args = ["compare", "-u", "1", "-t", "2s", "--images", str(images), "--only", "ours", "--rounds", "1"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)], env={"COLUMNS": "300", **env})
    assert result.exit_code == 1, result.output
    assert "not measured: round 1 ours" in result.output
    [row] = json.loads((out / "compare.json").read_text())["results"]
    assert row["failed"] is True and row["missing"] == "warm-up: HTTP 401 Unauthorized from /classify"


def test_compare_refuses_settings_the_service_would_refuse_in_one_line(tmp_path: Path) -> None:
    """MVA_ENGINE=litert with MVA_PRECISION=fp32 (LiteRT runs MobileNetV2's int8 tflite) was a
    traceback while compare chose the baselines' model file; `serve` refuses it at start, in one line."""
    out = tmp_path / "compare"
    env = {"COLUMNS": "300", "MVA_ENGINE": "litert", "MVA_PRECISION": "fp32"}
    result = CliRunner().invoke(app, ["compare", "--only", "ours", "--out", str(out)], env=env)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "the service's settings (MVA_*): engine=litert runs the original tflite of mobilenet_v2" in text
    assert "Traceback" not in result.output and not out.exists()


def test_each_command_says_its_exit_codes_in_its_help() -> None:
    for command in ("run", "ci", "compare"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "Exit codes: 0 " in " ".join(result.output.split()), command


def test_a_missing_images_folder_is_named_as_it_is_on_stderr(tmp_path: Path) -> None:
    """Rich markup swallowed "[old]" in a folder's name (and "[/x]" raised); the error goes to stderr."""
    missing = tmp_path / "run[old]" / "pictures"
    result = CliRunner().invoke(app, ["run", "--images", str(missing)], env={"COLUMNS": "500"})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and str(missing) in result.stderr, result.stderr


def test_the_report_prints_locusts_error_texts_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    report_of_failures = RunReport(
        stats={},
        errors=[{"name": "POST /classify", "error": "HTTPError('[/x] [old] answer')", "occurrences": 3}],
        violations=["p95 1049 ms [/x] above 1000 ms"],
    )
    report(LoadResult(1, Path("artifacts/loadtest/run"), report_of_failures), "run [old]")
    said = " ".join(capsys.readouterr().out.split())
    assert "failure POST /classify: HTTPError('[/x] [old] answer') (x3)" in said
    assert "threshold not met: p95 1049 ms [/x] above 1000 ms" in said
    assert "run [old]" in said
