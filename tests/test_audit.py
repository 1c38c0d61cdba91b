"""service/audit.py: the locked dependencies against PyPI's vulnerability data. The documents below have
the shape of PyPI's project JSON (`/pypi/<name>/json`: `info.version` and `vulnerabilities`); the last
test asks the real PyPI (`make audit` in CI does it for the whole lock file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from service.audit import PYPI, Assessment, assess, fetch, main, read_pins, report

MINERVA = {
    "id": "GHSA-wj6h-64fc-37mp",
    "aliases": ["CVE-2024-23342"],
    "summary": "Minerva timing attack on P-256",
    "fixed_in": [],
    "withdrawn": None,
}


def project(newest: str, *vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": newest}, "vulnerabilities": list(vulnerabilities)}


def test_pins_are_the_name_version_lines_of_a_freeze() -> None:
    text = "# pinned\nfastapi==0.165.0\n-e file:///work\nnumpy==2.4.6 ; python_version >= '3.11'\nbad line\n"
    assert read_pins(text) == [("fastapi", "0.165.0"), ("numpy", "2.4.6")]


def test_a_pin_at_the_newest_release_is_checked_in_full() -> None:
    clean = assess("fastapi", "0.165.0", project("0.165.0"))
    assert clean.fully_checked and clean.findings == []
    vulnerable = assess("ecdsa", "0.19.2", project("0.19.2", MINERVA))
    assert vulnerable.findings == [
        "GHSA-wj6h-64fc-37mp (CVE-2024-23342): Minerva timing attack on P-256; no fixed release"
    ]


def test_one_vulnerability_listed_by_two_databases_is_one_finding() -> None:
    pysec = {"id": "PYSEC-2024-1", "aliases": ["GHSA-wj6h-64fc-37mp", "CVE-2024-23342"], "summary": "Minerva"}
    other = MINERVA | {"id": "GHSA-0000-0000-0000", "aliases": ["CVE-2024-99999"]}
    findings = assess("ecdsa", "0.19.2", project("0.19.2", pysec, MINERVA, other)).findings
    assert [f.split(" ")[0] for f in findings] == ["PYSEC-2024-1", "GHSA-0000-0000-0000"]


def test_an_older_pin_is_partly_checked_and_a_withdrawn_advisory_is_no_finding() -> None:
    older = assess("numpy", "2.4.6", project("2.5.5", MINERVA | {"withdrawn": "2026-01-01"}))
    assert not older.fully_checked and older.findings == []
    text, status = report([older, assess("fastapi", "0.165.0", project("0.165.0"))])
    assert status == 0
    assert "partly checked, older than the newest release: numpy==2.4.6 (newest 2.5.5)" in text
    assert text.endswith("2 locked packages: 1 checked in full, 1 partly, 0 not checked; 0 vulnerabilities")


def test_findings_fail_and_silence_is_not_a_pass() -> None:
    vulnerable = assess("ecdsa", "0.19.2", project("0.19.2", MINERVA | {"fixed_in": ["0.20.0"]}))
    text, status = report([vulnerable])
    assert status == 1 and "VULNERABLE ecdsa==0.19.2" in text and "fixed in 0.20.0" in text
    unanswered = Assessment("fastapi", "0.165.0", None, error="HTTP 503")
    text, status = report([unanswered])
    assert status == 2 and "NOT CHECKED fastapi==0.165.0: PyPI did not answer (HTTP 503)" in text


def test_pypi_answers_with_the_newest_release_and_its_vulnerabilities() -> None:
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        try:
            client.head(f"{PYPI}/httpx/json").raise_for_status()
        except httpx.HTTPError as exc:
            pytest.skip(f"PyPI's JSON API does not answer here: {exc}")
        result = fetch(client, "httpx", "0.0.1")
        missing = fetch(client, "no-such-project-mva-audit", "1.0")
    assert result.error is None and result.newest and result.newest != "0.0.1" and not result.fully_checked
    assert missing.newest is None and missing.error == "HTTP 404"


def test_ci_may_let_an_unanswered_pypi_pass_but_never_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI passes --allow-unanswered: no network is no verdict. A package PyPI does not know is the
    same case here, and still printed."""
    lock = tmp_path / "requirements.lock"
    lock.write_text("no-such-project-mva-audit==1.0\n")
    assert main([str(lock), "--allow-unanswered"]) == 0
    assert "NOT CHECKED no-such-project-mva-audit==1.0" in capsys.readouterr().out
    assert main([str(lock)]) == 2


def test_a_lock_file_that_cannot_be_read_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a traceback with exit 1, the code of a finding."""
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "missing.lock"), "--allow-unanswered"])
    assert exited.value.code == 2
    assert f"{tmp_path / 'missing.lock'}: No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("fastapi>=0.100\nhttpx==0.28.1\n", "not a lock file (no version pinned in 'fastapi>=0.100')"),
        ('[project]\nname = "mobile-vision-api"\n', "not a lock file (no version pinned in '[project]'"),
        ("# nothing locked yet\n", "not a lock file (no name==version lines)"),
    ],
)
def test_a_file_that_is_not_a_lock_is_a_usage_error_not_a_pass(
    text: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Requirements with ranges, pyproject.toml, an empty lock: the lines without a pin were skipped,
    and "0 vulnerabilities" with exit 0 said that nothing checked was safe."""
    lock = tmp_path / "requirements.txt"
    lock.write_text(text)
    with pytest.raises(SystemExit) as exited:
        main([str(lock), "--allow-unanswered"])
    assert exited.value.code == 2
    assert f"{lock}: {said}" in capsys.readouterr().err
