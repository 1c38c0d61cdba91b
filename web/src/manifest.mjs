// The one manifest (GET /v1/manifest) gives input sizes, normalization, resize mode, anchors and
// decoder thresholds; the page never carries its own copy. Model files come from the service too.
// Both /v1 routes want the API key when the server has one; the model and label files do not.
import { readJson } from './answers.mjs';
import { authHeaders } from './api.mjs';

async function getJson(path) {
  return readJson(path, await fetch(path, { headers: authHeaders() }));
}

export async function loadManifest() {
  return getJson('/v1/manifest');
}

export async function loadServerInfo() {
  return getJson('/v1/models');
}

// fixedBatch: the same graph with the batch fixed at 1 (fp32 only), for onnxruntime-web's WebGL
// backend, which cannot run the symbolic batch of the file the server runs.
export function modelUrl(name, precision, fixedBatch = false) {
  const file = `${encodeURIComponent(precision)}${fixedBatch ? '-batch1' : ''}.onnx`;
  return `/models/${encodeURIComponent(name)}/${file}`;
}

const labelCache = new Map();

export async function loadLabels(name) {
  if (!labelCache.has(name)) {
    const response = await fetch(`/models/${encodeURIComponent(name)}/labels.txt`);
    if (!response.ok) throw new Error(`labels of ${name}: HTTP ${response.status}`);
    labelCache.set(name, (await response.text()).split(/\r?\n/));
  }
  return labelCache.get(name);
}
