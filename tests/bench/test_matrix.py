from __future__ import annotations

from service.bench.matrix import ENGINE_CHOICES, build_matrix
from service.manifest import Manifest


def test_litert_runs_only_the_native_precision_and_reference_only_one_thread(manifest: Manifest) -> None:
    cells = build_matrix(manifest, ["mobilenet_v2", "short"], list(ENGINE_CHOICES), [1, 2])
    mobilenet = [c for c in cells if c.model == "mobilenet_v2"]
    assert {(c.precision, c.threads) for c in mobilenet if c.engine == "onnxruntime"} == {
        ("int8", 1),
        ("int8", 2),
        ("fp32", 1),
        ("fp32", 2),
    }
    assert {c.precision for c in mobilenet if c.engine == "litert"} == {"int8"}
    assert [c.threads for c in cells if c.kernels == "reference"] == [1, 1]
    assert {c.model for c in cells} == {"mobilenet_v2", "blazeface_short"}  # the alias resolves


def test_cells_turn_into_valid_settings_and_query_parameters(manifest: Manifest) -> None:
    for cell in build_matrix(manifest, ["mobilenet_v2"], list(ENGINE_CHOICES), [1]):
        settings = cell.settings()
        assert settings.engine == cell.engine
        assert settings.simd is (cell.kernels != "reference")
        query = cell.query()
        assert query["engine"] == cell.engine and query["threads"] == "1"
        assert ("kernels" in query) is (cell.engine == "litert")
