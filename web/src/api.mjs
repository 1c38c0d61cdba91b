// The server path: POST the picture's bytes to /classify or /detect and split the round trip into
// the server's own stages (Server-Timing) and the rest (network, HTTP, JSON).
export function parseServerTiming(header) {
  const stages = {};
  for (const part of (header || '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    if (name && dur) stages[name] = Number(dur.slice(4));
  }
  return stages;
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
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers: rawImage ? { 'Content-Type': blob.type } : undefined,
    cache: 'no-store',
  });
  const payload = await response.json();
  const roundTripMs = performance.now() - start;
  if (!response.ok) throw new Error(`${task}: HTTP ${response.status}: ${payload?.error?.message ?? ''}`);
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
