"""service/bench/formats.py on the real 1080p photo: every upload format at both sizes, decoded as the
server decodes it (a JPEG at a DCT scale, the others whole), the figures the README block is made of."""

from __future__ import annotations

from pathlib import Path

from service.bench.formats import FORMATS, SIZES, decode_by_format, decode_preprocess
from service.manifest import Manifest


def test_every_format_and_size_is_measured(images: Path, manifest: Manifest) -> None:
    spec = manifest.get("mobilenet_v2").input
    report = decode_by_format(images / "cat_1080p.jpg", spec, runs=6, budget_s=0.1)
    assert report["source"] == "cat_1080p.jpg"
    rows = {(r["size"], r["format"]): r for r in report["rows"]}
    assert rows.keys() == {(size, fmt) for size in SIZES for fmt in FORMATS}
    for (size, fmt), row in rows.items():
        width, height = SIZES[size]
        assert 5 <= row["runs"] <= 6
        assert row["decode_p50_ms"] > 0 and row["preprocess_p50_ms"] > 0
        assert row["total_p50_ms"] >= max(row["decode_p50_ms"], row["preprocess_p50_ms"])
        decoded_w, decoded_h = map(int, row["decoded"].split("x"))
        if fmt == "JPEG":  # DCT scaling: smaller, still covering the 224x224 crop
            assert 224 <= decoded_h < height and decoded_w < width
        else:
            assert (decoded_w, decoded_h) == (width, height)
    assert rows[("1080p", "BMP")]["bytes"] == 54 + 1920 * 1080 * 3  # uncompressed, as a check on the encoding


def test_the_goal_figure_is_the_file_as_it_is(images: Path, manifest: Manifest) -> None:
    figure = decode_preprocess(images / "cat_1080p.jpg", manifest.get("mobilenet_v2").input, 10)
    assert figure["image"] == "cat_1080p.jpg" and figure["bytes"] == (images / "cat_1080p.jpg").stat().st_size
    assert figure["runs"] == 10 and figure["p50_ms"] > 0
