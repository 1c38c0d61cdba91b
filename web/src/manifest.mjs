// The one manifest (GET /v1/manifest) gives input sizes, normalization, resize mode, anchors and
// decoder thresholds; the page never carries its own copy. Model files come from the service too.
// Both /v1 routes want the API key when the server has one; the model and label files do not.
import { fetchNamed, readJson } from './answers.mjs';
import { authHeaders } from './api.mjs';

async function getJson(path) {
  return readJson(path, await fetchNamed(path, path, { headers: authHeaders() }));
}

// The schema's defaults (service/manifest.py) of the fields the page reads: /v1/manifest serves the
// file as written, and a field it leaves out is the server's default, not undefined (a center_crop
// without central_fraction cropped by NaN: the model saw a black picture).
const INPUT_DEFAULTS = { central_fraction: 1.0 };

export async function loadManifest() {
  const manifest = await getJson('/v1/manifest');
  for (const spec of Object.values(manifest.models)) spec.input = { ...INPUT_DEFAULTS, ...spec.input };
  return manifest;
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
    const response = await fetchNamed(`labels of ${name}`, `/models/${encodeURIComponent(name)}/labels.txt`);
    if (!response.ok) throw new Error(`labels of ${name}: HTTP ${response.status}`);
    labelCache.set(name, (await response.text()).split(/\r?\n/));
  }
  return labelCache.get(name);
}
