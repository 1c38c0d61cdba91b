"""A Dockerfile read as text, stage by stage, for the tests that check the image's recipe without Docker."""

from __future__ import annotations

import re


def dockerfile_stages(dockerfile: str) -> dict[str, tuple[str, list[str]]]:
    """Each stage's name -> (what it is FROM, its instructions); continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile)
    stages: dict[str, tuple[str, list[str]]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        stage = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
        if stage:
            current = []
            stages[stage.group(2) or "(last)"] = (stage.group(1), current)
        elif line and not line.startswith("#"):
            current.append(line)
    return stages
