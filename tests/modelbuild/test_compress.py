from __future__ import annotations

import gzip
from pathlib import Path

from service.modelbuild.compress import write_gzip_copy


def test_gzip_copy_round_trips_and_is_reproducible(tmp_path: Path) -> None:
    path = tmp_path / "fp32.onnx"
    path.write_bytes(bytes(range(256)) * 4000)
    first = write_gzip_copy(path)
    assert first == tmp_path / "fp32.onnx.gz"
    assert gzip.decompress(first.read_bytes()) == path.read_bytes()
    digest = first.read_bytes()
    assert write_gzip_copy(path).read_bytes() == digest  # no time stamp in the header
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32.onnx", "fp32.onnx.gz"]
