"""`loadtests/locustfile.py` run by locust itself, as the README shows it: its options and locust's."""

from __future__ import annotations

import re
from pathlib import Path

from tests.loadtests.conftest import locust_options
from tests.readme import DOCS, commands, options, shown_code


def unknown_locust_options(readme: Path) -> list[str]:
    """Each option of the README's `locust -f loadtests/locustfile.py ...` lines, and each `--mva-*` it
    names anywhere (the scenario's option table), that locust with this locustfile does not take."""
    shown = [option for words in commands(readme, ("locust",)) for option in options(words)]
    shown += [name for code in shown_code(readme) for name in re.findall(r"--mva-[\w-]+", code)]
    return sorted(set(shown) - locust_options())


def test_every_locust_option_the_readme_gives_exists() -> None:
    assert [option for doc in DOCS for option in unknown_locust_options(doc)] == []


def test_an_option_locust_lacks_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "```bash\nlocust -f loadtests/locustfile.py --worker --master-host 127.0.0.1 --master-hots x &\n```\n"
        "| `--mva-detector` | short |\n| `--mva-detecter`, `--mva-engine` | |\n"
    )
    assert unknown_locust_options(readme) == ["--master-hots", "--mva-detecter"]
