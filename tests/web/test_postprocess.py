"""web/src/classification.mjs and web/src/detection.mjs, run by node on the very outputs the server's
models give for the test pictures, with the manifest the service serves: the page's top-k and faces are
the server's."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from service.artifacts import ArtifactLayout
from service.engines.registry import RunnerRegistry, resolve
from service.manifest import Manifest
from service.pipeline import PipelineOutput, run_pipeline
from service.settings import PROJECT_ROOT, EngineSettings
from service.tasks.classification import Labels, top_k
from service.tasks.detection import detect
from service.tasks.detection.anchors import anchors_for
from service.tasks.detection.decode import Detections, decode
from service.tasks.detection.nms import weighted_nms
from service.timing import StageTimer
from tests import pictures
from tests.conftest import LiveServer
from tests.reference import corners

NODE = shutil.which("node")
SRC = PROJECT_ROOT / "web" / "src"
SCRIPT = """
import { topK } from 'CLASSIFICATION';
import { anchorsFor, decode, detectFaces, weightedNms } from 'DETECTION';
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { manifest, jobs } = JSON.parse(Buffer.concat(chunks));
const floats = (b64) => new Float32Array(Uint8Array.from(Buffer.from(b64, 'base64')).buffer);
const answers = jobs.map((job) => {
  if (job.candidates) return weightedNms(job.candidates, job.threshold); // the NMS stage alone
  const spec = manifest.models[job.model];
  const heads = job.outputs.map((o, i) => [`out${i}`, { dims: o.dims, data: floats(o.data) }]);
  const outputs = Object.fromEntries(heads);
  if (spec.task === 'classification') {
    return topK(outputs.out0.data, job.labels, spec.labels?.background_index ?? null, job.k);
  }
  if (job.minScore !== undefined) {
    // the decoding stage alone: the candidates at or above minScore, before NMS
    const head = (width) => heads.find(([, o]) => o.dims[o.dims.length - 1] === width)[1].data;
    const { anchors, decoder } = spec;
    return decode(head(decoder.num_coords), head(1), anchorsFor(anchors), decoder, job.minScore);
  }
  return detectFaces(outputs, spec, job.letterbox, job.width, job.height);
});
process.stdout.write(JSON.stringify(answers));
""".replace("CLASSIFICATION", (SRC / "classification.mjs").as_uri()).replace(
    "DETECTION", (SRC / "detection.mjs").as_uri()
)
PICTURES = ["bird.bmp", "cat.bmp", "cat_1080p.jpg", "face.jpg", "grace_hopper.bmp", "squat.bmp"]


def page_answers(manifest: dict[str, Any], jobs: list[dict[str, Any]]) -> list[Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT],
        input=json.dumps({"manifest": manifest, "jobs": jobs}).encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def encoded(outputs: list[np.ndarray]) -> list[dict[str, Any]]:
    return [
        {"dims": list(o.shape), "data": base64.b64encode(o.astype(np.float32).tobytes()).decode()}
        for o in outputs
    ]


def model_outputs(data: bytes, model: str, manifest: Manifest, registry: RunnerRegistry) -> PipelineOutput:
    """The server's pipeline up to the model's raw outputs, with the service's default settings."""
    spec = manifest.get(model)
    runner = registry.get(spec, resolve(spec, EngineSettings()))
    return run_pipeline(data, spec.input, runner, 10**8, StageTimer())


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_pages_top_k_and_faces_are_the_servers_on_the_same_outputs(
    server: LiveServer, manifest: Manifest, registry: RunnerRegistry, layout: ArtifactLayout, images: Path
) -> None:
    with server.client() as client:
        served = client.get("/v1/manifest").json()
    classifier = manifest.get("mobilenet_v2")
    assert classifier.labels is not None
    labels = Labels.load(layout.labels(classifier.name), classifier.labels.background_index)
    jobs: list[dict[str, Any]] = []
    expected: list[Any] = []
    for picture in PICTURES:
        data = (images / picture).read_bytes()
        # the default int8: its scores come in steps of 1/256, so most classes tie: their order shows
        out = model_outputs(data, classifier.name, manifest, registry)
        jobs.append(
            {"model": classifier.name, "outputs": encoded(out.outputs), "labels": labels.names, "k": 10}
        )
        expected.append(top_k(out.outputs[0], labels, 10))
        for name in ("blazeface_short", "blazeface_full"):
            out = model_outputs(data, name, manifest, registry)
            box = out.model_pixels.letterbox
            jobs.append(
                {
                    "model": name,
                    "outputs": encoded(out.outputs),
                    "letterbox": {"left": box.left, "top": box.top, "width": box.width, "height": box.height},
                    "width": out.decoded.width,
                    "height": out.decoded.height,
                }
            )
            expected.append(
                detect(out.outputs, manifest.get(name), box, (out.decoded.width, out.decoded.height))
            )
    faces_seen = 0
    for job, page, server_answer in zip(jobs, page_answers(served, jobs), expected, strict=True):
        if job["model"] == classifier.name:
            assert [(p["class_id"], p["label"]) for p in page] == [
                (p.class_id, p.label) for p in server_answer
            ]
            assert [p["score"] for p in page] == pytest.approx([p.score for p in server_answer], abs=1e-6)
            continue
        assert len(page) == len(server_answer), job["model"]
        faces_seen += len(page)
        for mine, theirs in zip(page, server_answer, strict=True):
            assert mine["score"] == pytest.approx(theirs.score, abs=1e-6)
            assert corners(mine["box"]) == pytest.approx(
                [theirs.x_min, theirs.y_min, theirs.x_max, theirs.y_max], abs=1e-3
            )
            assert [k["name"] for k in mine["keypoints"]] == [k.name for k in theirs.keypoints]
            points = [v for k in mine["keypoints"] for v in (k["x"], k["y"])]
            assert points == pytest.approx([v for k in theirs.keypoints for v in (k.x, k.y)], abs=1e-3)
    assert faces_seen >= 10  # face.jpg alone has 2 (short) and 4 (full)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_pages_candidates_at_min_score_0_are_the_servers(
    manifest: Manifest, registry: RunnerRegistry, layout: ArtifactLayout
) -> None:
    """At min_score=0 every box counts, among them those the short-range model gives a negative size on
    a black picture: both sides drop them (MediaPipe's TensorsToDetections) and keep the same others."""
    black = pictures.encoded(Image.new("RGB", (50, 50)), "PNG")
    spec = manifest.get("blazeface_short")
    assert spec.decoder is not None and spec.anchors is not None
    out = model_outputs(black, spec.name, manifest, registry)
    job = {"model": spec.name, "outputs": encoded(out.outputs), "minScore": 0.0}
    (page,) = page_answers(json.loads(layout.manifest.read_text()), [job])
    n = spec.decoder.num_coords
    raw_boxes = next(o for o in out.outputs if o.shape[-1] == n).reshape(-1, n)
    raw_scores = next(o for o in out.outputs if o.shape[-1] == 1).reshape(-1)
    server = decode(raw_boxes, raw_scores, anchors_for(spec.anchors), spec.decoder, 0.0)
    assert len(page) == len(server) < spec.decoder.num_boxes
    assert np.allclose([c["box"] for c in page], server.boxes, atol=1e-6)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_pages_nms_of_candidates_scored_0_is_the_servers() -> None:
    """Scores that underflow to 0 (min_score=0) weigh nothing: both sides keep the best box alone rather
    than divide by a zero total (the page gave NaN boxes)."""
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.7, 0.7, 0.9, 0.9]], np.float32)
    keypoints = np.stack([boxes[:, :2], boxes[:, 2:]], axis=1)
    scores = np.array([0.0, 0.0, 0.4], np.float32)
    server = weighted_nms(Detections(scores, boxes, keypoints), 0.3)
    job = {
        "candidates": [
            {"score": float(s), "box": b.tolist(), "keypoints": k.tolist()}
            for s, b, k in zip(scores, boxes, keypoints, strict=True)
        ],
        "threshold": 0.3,
    }
    (page,) = page_answers({}, [job])
    assert [c["score"] for c in page] == pytest.approx(server.scores.tolist())
    assert np.allclose([c["box"] for c in page], server.boxes, atol=1e-6)
    assert np.allclose([c["keypoints"] for c in page], server.keypoints, atol=1e-6)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_page_drops_candidates_scored_nan_as_the_server_does(
    manifest: Manifest, registry: RunnerRegistry, layout: ArtifactLayout, images: Path
) -> None:
    """A raw score that is NaN fails the server's `score >= min_score` and its candidate is dropped;
    the page's `score < minScore` skip let it through (a NaN is neither), and its NMS then kept a face
    scored NaN beside the real ones. face.jpg's real outputs, with the scores of its faces' best
    anchors and every 50th set to NaN: both sides keep the same candidates and the same faces."""
    spec = manifest.get("blazeface_full")
    assert spec.decoder is not None and spec.anchors is not None
    out = model_outputs((images / "face.jpg").read_bytes(), spec.name, manifest, registry)
    scores_at = next(i for i, o in enumerate(out.outputs) if o.shape[-1] == 1)
    scores = out.outputs[scores_at].copy()
    flat = scores.reshape(-1)
    flat[np.argsort(-flat)[:3]] = np.nan
    flat[::50] = np.nan
    outputs = [scores if i == scores_at else o for i, o in enumerate(out.outputs)]
    box = out.model_pixels.letterbox
    size = (out.decoded.width, out.decoded.height)
    served = json.loads(layout.manifest.read_text())
    candidates = {"model": spec.name, "outputs": encoded(outputs), "minScore": spec.decoder.min_score_thresh}
    faces = {
        "model": spec.name,
        "outputs": encoded(outputs),
        "letterbox": {"left": box.left, "top": box.top, "width": box.width, "height": box.height},
        "width": size[0],
        "height": size[1],
    }
    page_candidates, page_faces = page_answers(served, [candidates, faces])
    n = spec.decoder.num_coords
    raw_boxes = next(o for o in outputs if o.shape[-1] == n).reshape(-1, n)
    server = decode(raw_boxes, flat, anchors_for(spec.anchors), spec.decoder, spec.decoder.min_score_thresh)
    assert len(page_candidates) == len(server) > 0
    assert [c["score"] for c in page_candidates] == pytest.approx(server.scores.tolist(), abs=1e-6)
    server_faces = detect(outputs, spec, box, size)
    assert [f["score"] for f in page_faces] == pytest.approx([f.score for f in server_faces], abs=1e-6)
    assert np.allclose(
        [corners(f["box"]) for f in page_faces],
        [[f.x_min, f.y_min, f.x_max, f.y_max] for f in server_faces],
        atol=1e-3,
    )
