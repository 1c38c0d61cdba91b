// The server path: POST the picture's bytes to /classify or /detect and split the round trip into
// the server's own stages (Server-Timing) and the rest (network, HTTP, JSON).

import { fetchNamed, readJson } from './answers.mjs';

// The API key (the server's MVA_API_KEY), sent as X-API-Key when set. Kept in this tab only: module
// memory plus sessionStorage (gone when the tab closes; never localStorage or a cookie).
const KEY_STORAGE = 'mva-api-key';
let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';

export function getApiKey() {
  return apiKey;
}

export function setApiKey(key) {
  apiKey = key.trim();
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export function authHeaders() {
  return apiKey ? { 'X-API-Key': apiKey } : {};
}

export function parseServerTiming(header) {
  const stages = {};
  for (const part of (header || '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    if (name && dur) stages[name] = Number(dur.slice(4));
  }
  return stages;
}

/**
 * The query string of a /classify or /detect call for `job` ({task, model, precision, topK}) on the
 * server settings {engine, simd, threads}, with only what that engine takes: onnxruntime has no SIMD
 * switch, and LiteRT runs the tflite's own precision; either refuses the other's parameter (422).
 */
export function serverQuery(job, { engine, simd, threads }) {
  const query = { model: job.model, engine, threads: String(threads) };
  if (engine === 'litert' && simd) query.simd = simd;
  if (job.task === 'classify') {
    query.top_k = String(job.topK ?? 5);
    if (engine === 'onnxruntime') query.precision = job.precision;
  }
  return query;
}

export async function callApi(task, blob, query) {
  const url = `/${task}?${new URLSearchParams(query)}`;
  const rawImage = blob.type.startsWith('image/');
  let body = blob;
  if (!rawImage) {
    body = new FormData();
    body.append('image', blob, 'image');
  }
  const start = performance.now();
  const response = await fetchNamed(task, url, {
    method: 'POST',
    body,
    headers: { ...(rawImage ? { 'Content-Type': blob.type } : {}), ...authHeaders() },
    cache: 'no-store',
  });
  const payload = await readJson(task, response);
  const roundTripMs = performance.now() - start;
  const server = parseServerTiming(response.headers.get('Server-Timing'));
  return {
    payload,
    timing: {
      uploadBytes: blob.size,
      server,
      serverTotalMs: server.total ?? payload.timing.total,
      roundTripMs,
      networkMs: roundTripMs - (server.total ?? payload.timing.total),
    },
    servedBy: response.headers.get('X-Served-By'),
  };
}
