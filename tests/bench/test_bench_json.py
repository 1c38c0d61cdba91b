"""service/bench/bench_json.py: a lab document this version cannot read is refused by name, with the
command that writes it anew, whether of another schema or no JSON object at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.bench.bench_json import BENCH_SCHEMA, UnreadableLabJson, read_bench_json


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (json.dumps({"schema": BENCH_SCHEMA, "results": []})[:20].encode(), "is not JSON (Unterminated"),
        (b"\xff\xfe not text", "is not JSON ('utf-8' codec can't decode"),
        (b"[]", "is no JSON object"),
    ],
)
def test_a_document_cut_short_or_of_no_object_is_refused_in_one_line(
    tmp_path: Path, content: bytes, said: str
) -> None:
    """A bench.json cut short (a full disk, a copy stopped half way) was a JSONDecodeError traceback in
    bench-browser and bench-readme: now the error their readers handle, in one line."""
    path = tmp_path / "bench.json"
    path.write_bytes(content)
    with pytest.raises(UnreadableLabJson) as refused:
        read_bench_json(path)
    message = str(refused.value)
    assert message.startswith(f"{path} {said}") and message.endswith(": rerun `make bench`")
    assert "\n" not in message
