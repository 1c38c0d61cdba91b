"""The commands the README shows a reader, for the tests that hold them to the Makefile and the CLIs: a
name or an option the code lost (or never had) is a copied command that fails."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import click

from service.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
# what a reader copies commands from: the README and the pages under docs/ it links to
DOCS = (README, *sorted((PROJECT_ROOT / "docs").glob("*.md")))

_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")


def shown_code(readme: Path) -> list[str]:
    """Every line of the fenced code blocks (a `\\` line joined to the next) and every inline code span
    (which may wrap a line)."""
    text = readme.read_text()
    spans = [" ".join(span.split()) for _, span in _SPAN.findall(_FENCED.sub("", text))]
    return _fenced_lines(text) + spans


def _fenced_lines(text: str) -> list[str]:
    """Every line of `text`'s fenced code blocks, a `\\` line joined to the next."""
    return [line for block in _FENCED.findall(text) for line in block.replace("\\\n", " ").splitlines()]


def _shell_commands(code: str) -> list[list[str]]:
    """`code` cut into simple commands (at `&&`, `|`, `;`, `$(`...), each as its words."""
    # a span inside a span keeps its backticks: another command starts there
    lexer = shlex.shlex(code.replace("`", " ; "), posix=True, punctuation_chars="();|&")
    lexer.whitespace_split = True  # `a:b` and `x/y.z` stay one word
    try:  # a `#` comment ends the words
        words = list(lexer)
    except ValueError:  # an unclosed quote: a span that is no command
        return []
    found: list[list[str]] = [[]]
    for word in words:
        if word and set(word) <= set("();|&$"):
            found.append([])
        else:
            found[-1].append(word.strip("[]"))  # `[--source DIR]` is an optional part
    return [command for command in found if command]


def fenced_commands(readme: Path) -> list[list[str]]:
    """Every simple command of the fenced code blocks (what a reader pastes into a shell), as its words,
    without its leading VAR=value words."""
    lines = _fenced_lines(readme.read_text())
    return [_without_assignments(command) for line in lines for command in _shell_commands(line)]


def _without_assignments(command: list[str]) -> list[str]:
    """`command` from its program on: `X=1 make serve` is `make serve`."""
    return command[next((i for i, word in enumerate(command) if not _ASSIGNMENT.match(word)), 0) :]


@cache
def _shown_commands(readme: Path, mtime_ns: int) -> list[list[str]]:
    """Every simple command in the README's code, without its leading VAR=value words (`mtime_ns`: a
    README written again is read again)."""
    return [_without_assignments(command) for code in shown_code(readme) for command in _shell_commands(code)]


def commands(readme: Path, program: Sequence[str]) -> list[list[str]]:
    """The words after `program` in each command the README shows that runs it: `program` (e.g. ("make",),
    ("python", "-m", "loadtests.run")) starts the command, its first word by name (.venv/bin/make is make)."""
    return [
        words[len(program) :]
        for words in _shown_commands(readme, readme.stat().st_mtime_ns)
        if words[0].rsplit("/", 1)[-1] == program[0] and words[1 : len(program)] == list(program[1:])
    ]


def section(heading: str, readme: Path = README) -> str:
    """The text under the README's `heading` line (e.g. "### Settings") up to the next heading of its level
    or above; a `#` line inside a code block is no heading."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = readme.read_text().splitlines(keepends=True)
    start = lines.index(heading + "\n") + 1
    fenced = False
    for end in range(start, len(lines)):
        fenced ^= lines[end].startswith("```")
        hashes = len(lines[end]) - len(lines[end].lstrip("#"))
        if not fenced and 0 < hashes <= level and lines[end][hashes : hashes + 1] == " ":
            return "".join(lines[start:end])
    return "".join(lines[start:])


def paragraphs(text: str) -> list[str]:
    """`text` cut at its blank lines."""
    return re.split(r"\n\s*\n", text.strip())


def options(words: Sequence[str]) -> list[str]:
    """The option names among a command's words (`--out=x` is `--out`)."""
    return [word.split("=", 1)[0] for word in words if re.match(r"-{1,2}[A-Za-z]", word)]


def option_names(command: click.Command) -> set[str]:
    """The names of `command`'s params: its options with their `--no-x` forms (click's own --help is no
    param), and its arguments'."""
    return {name for param in command.params for name in param.opts + param.secondary_opts}
