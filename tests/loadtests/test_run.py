"""`python -m loadtests.run`: what its help tells a user who runs it without make."""

from __future__ import annotations

from typer.testing import CliRunner

from loadtests.run import app


def test_run_help_names_the_locustfile_options_it_passes_on() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Options after these go to the locustfile" in text and "--mva-engine" in text
    assert "no request was made" in text
