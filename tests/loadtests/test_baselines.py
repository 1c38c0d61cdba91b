"""The naive baseline is a real, correct service: same model, right answers, same response shape."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from loadtests.baselines.mobilenet import NaiveClassifier
from loadtests.compare import started, targets, warm_up
from loadtests.expectations import KNOWN_ANSWERS, check_classify
from service.artifacts import ArtifactLayout
from service.cpu import has_vnni
from service.engines.registry import onnx_file
from service.localserver import LOOPBACK, free_port, running_server
from service.settings import PROJECT_ROOT, ServerSettings
from tests.conftest import models_with_int8_signed


def test_naive_service_answers_like_ours(images: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    command = [sys.executable, "-m", "uvicorn", "loadtests.baselines.naive_app:app", "--host", LOOPBACK,
               "--port", str(port)]  # fmt: skip
    with running_server(command, f"{url}/readyz", tmp_path / "naive.log", cwd=PROJECT_ROOT, timeout_s=60):
        for name in ("grace_hopper.bmp", "cat.bmp", "bird.bmp"):
            picture = (images / name).read_bytes()
            response = httpx.post(f"{url}/classify", files={"image": (name, picture)}, timeout=30)
            assert response.status_code == 200
            assert check_classify(response.json(), KNOWN_ANSWERS[name]) is None


def test_baselines_run_the_file_ours_runs(layout: ArtifactLayout, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make compare` tells the baselines the ONNX file our server runs on this host (int8-signed.onnx
    on a VNNI CPU), so the comparison is about serving, not about the model file."""
    ours = onnx_file(layout, "mobilenet_v2", "int8", ServerSettings().ort_int8_weights, has_vnni()).name
    env = {target.name: dict(target.env) for target in targets(layout.root)}
    assert env["naive"]["BASELINE_ONNX_FILE"] == env["bentoml"]["BASELINE_ONNX_FILE"] == ours
    monkeypatch.setenv("BASELINE_ONNX_FILE", "no-such-model.onnx")
    with pytest.raises(Exception, match=r"no-such-model\.onnx"):
        NaiveClassifier()


def test_the_baselines_follow_the_precision_and_engine_ours_is_set_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ours reads MVA_PRECISION and MVA_ENGINE (its defaults for every request); compare told the
    baselines the int8 file whatever they said, so with MVA_PRECISION=fp32 ours ran fp32.onnx beside
    baselines on int8: not the same model. LiteRT runs the tflite, which no baseline can: they say so."""
    monkeypatch.setenv("MVA_PRECISION", "fp32")
    env = {target.name: dict(target.env) for target in targets(tmp_path)}
    assert env["naive"]["BASELINE_ONNX_FILE"] == env["bentoml"]["BASELINE_ONNX_FILE"] == "fp32.onnx"

    monkeypatch.setenv("MVA_PRECISION", "int8")
    monkeypatch.setenv("MVA_ENGINE", "litert")
    chosen = {target.name: target for target in targets(tmp_path)}
    assert chosen["ours"].missing is None
    assert (
        chosen["naive"].missing
        == chosen["bentoml"].missing
        == ("ours runs LiteRT here (MVA_ENGINE=litert): the baselines run ONNX files only")
    )


def test_every_service_reads_the_models_folder_ours_reads(
    layout: ArtifactLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: Path
) -> None:
    """MVA_MODELS_DIR elsewhere, relative even (the services start from the project root, not from
    here): ours and both baselines load that folder, and the file the baselines are told to run is
    the one ours picks from that folder's lock, asked as of a CPU with VNNI, where the lock decides."""
    own = models_with_int8_signed(layout, tmp_path / "models", verified=True)
    # labels of its own: an answer shows which folder the baseline read
    labels = layout.labels("mobilenet_v2").read_text().splitlines()
    own.labels("mobilenet_v2").write_text("".join(f"own {label}\n" for label in labels))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MVA_MODELS_DIR", "models")
    env = {target.name: dict(target.env) for target in targets(tmp_path / "out", vnni=True)}
    folder = str(own.root.resolve())
    assert env["ours"]["MVA_MODELS_DIR"] == folder
    assert env["naive"]["BASELINE_MODELS_DIR"] == env["bentoml"]["BASELINE_MODELS_DIR"] == folder
    # this folder's lock says int8-signed.onnx was verified (the project's need not)
    assert env["naive"]["BASELINE_ONNX_FILE"] == env["bentoml"]["BASELINE_ONNX_FILE"] == "int8-signed.onnx"
    monkeypatch.chdir(PROJECT_ROOT)  # where compare starts the baselines
    for name, value in env["naive"].items():
        monkeypatch.setenv(name, value)
    best = NaiveClassifier().predict_bytes((images / "cat.bmp").read_bytes(), top_k=1)[0]
    assert best["label"].startswith("own ")


def test_bentoml_serves_without_an_access_log_as_ours_and_the_naive_one_do(
    images: Path, tmp_path: Path
) -> None:
    """Ours has no access log by default and compare runs the naive one at --log-level warning; BentoML
    wrote a line per request (its default), a cost the others did not pay (README Results, "Levers
    tried": a line per request cost ours up to 9 % under load)."""
    [bentoml] = [target for target in targets(tmp_path) if target.name == "bentoml"]
    if bentoml.missing:
        pytest.skip(f"the BentoML baseline: {bentoml.missing}")
    with started(bentoml, tmp_path) as url:
        warm_up(url, images / "cat.bmp")  # right answers, or it raises
    log = (tmp_path / "bentoml-server.log").read_text()
    assert "Service MobileNetV2 initialized" in log  # BentoML's own log, written
    assert "path=/classify" not in log
