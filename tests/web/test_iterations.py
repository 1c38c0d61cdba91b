"""web/src/iterations.mjs, run by node: the benchmark's iteration count is a whole number within the
input's min..max, whatever was typed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from service.settings import PROJECT_ROOT

NODE = shutil.which("node")
SCRIPT = """
import { iterationsFrom } from 'MODULE';
const typed = JSON.parse(process.argv[1]);
const limits = { min: 1, max: 200, fallback: 10 };
process.stdout.write(JSON.stringify(typed.map((text) => iterationsFrom(text, limits))));
""".replace("MODULE", (PROJECT_ROOT / "web" / "src" / "iterations.mjs").as_uri())

# what was typed -> the count the benchmark runs (min 1, max 200, default 10)
CASES = {
    "10": 10,
    "200": 200,
    "201": 200,
    "100000": 200,
    "1e9": 200,
    "0": 1,
    "-3": 1,
    "0.4": 1,
    "2.5": 3,
    "7.4": 7,
    " 5 ": 5,
    "": 10,
    "abc": 10,
    "Infinity": 10,
}


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_typed_count_is_held_to_the_inputs_range_as_a_whole_number() -> None:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT, json.dumps(list(CASES))],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert dict(zip(CASES, json.loads(done.stdout), strict=True)) == CASES
