// The one manifest (GET /v1/manifest) gives input sizes, normalization, resize mode, anchors and
// decoder thresholds; the page never carries its own copy. Model files come from the service too.
export async function loadManifest() {
  const response = await fetch('/v1/manifest');
  if (!response.ok) throw new Error(`/v1/manifest: HTTP ${response.status}`);
  return response.json();
}

export async function loadServerInfo() {
  const response = await fetch('/v1/models');
  if (!response.ok) throw new Error(`/v1/models: HTTP ${response.status}`);
  return response.json();
}

export function modelUrl(name, precision) {
  return `/models/${encodeURIComponent(name)}/${encodeURIComponent(precision)}.onnx`;
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
