"""The README helpers the tests read the README through."""

from __future__ import annotations

from pathlib import Path

import click

from tests.readme import option_names, paragraphs, section

_README = """# project

## Usage

Run it.

```bash
# a comment, no heading
make run
```

### Options

One option.

## Licence

MIT
"""


def test_a_section_runs_to_the_next_heading_of_its_level_past_code_and_subsections(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(_README)
    usage = section("## Usage", readme)
    assert usage.startswith("\nRun it.\n") and "# a comment" in usage
    assert usage.endswith("### Options\n\nOne option.\n\n")
    assert section("### Options", readme) == "\nOne option.\n\n"
    assert section("## Licence", readme) == "\nMIT\n"


def test_paragraphs_are_cut_at_blank_lines() -> None:
    text = "\n| a |\n| b |\n\nErrors are\nJSON.\n  \nEnd.\n"
    assert paragraphs(text) == ["| a |\n| b |", "Errors are\nJSON.", "End."]


def test_option_names_are_every_name_a_command_line_may_use() -> None:
    @click.command()
    @click.option("--fast/--no-fast")
    @click.option("-n", "--count", type=int)
    @click.argument("image")
    def command(fast: bool, count: int, image: str) -> None: ...

    assert option_names(command) == {"--fast", "--no-fast", "-n", "--count", "image"}
