// Runs inside engine.html?backend=wasm&simd=1&threads=2 (one frame per configuration) and answers
// the page's messages: load a model, run it, describe itself. Timing is taken here, next to ort.
import { fetchNamed } from './answers.mjs';
import { STARTED } from './engines.mjs';

// the page's mark that this frame's scripts ran: it need not wait for a word that will not come
window[STARTED] = true;
const ort = globalThis.ort;
const params = new URLSearchParams(location.search);
const backend = params.get('backend') || 'wasm';
const simd = params.get('simd') !== '0';
const threads = Math.max(1, Number(params.get('threads') || 1));
const RUNTIME = 'vendor/ort.min.js';

// model URL -> the promise of {session, load}: a second caller during the first one's load (live
// mode's loop and Run) waits for that session rather than download and create another, whose wasm
// memory nothing would ever release
const sessions = new Map();

function resourceEntry(url) {
  const entries = performance.getEntriesByName(new URL(url, location.href).href, 'resource');
  return entries[entries.length - 1];
}

// since: only the files fetched from that moment (performance.now()) on
function wasmFiles(since = 0) {
  return performance
    .getEntriesByType('resource')
    .filter((e) => e.name.endsWith('.wasm') && e.startTime >= since)
    .map((e) => ({
      file: e.name.split('/').pop(),
      transferBytes: e.transferSize,
      bodyBytes: e.decodedBodySize,
      ms: e.duration,
    }));
}

// Asked once per frame: describe() runs at every load, i.e. every run, and a WebGL context each time
// was work inside the run's total, and contexts piling up toward chromium's limit, past which it takes
// the oldest (onnxruntime-web's own) away.
let renderer;

function webglRenderer() {
  if (renderer !== undefined) return renderer;
  const gl = document.createElement('canvas').getContext('webgl2');
  const info = gl?.getExtension('WEBGL_debug_renderer_info');
  renderer = !gl ? null : info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  gl?.getExtension('WEBGL_lose_context')?.loseContext(); // its only use is done: give it back now
  return renderer;
}

function describe() {
  const files = wasmFiles();
  const threaded = files.some((f) => f.file.includes('threaded'));
  return {
    backend,
    simd,
    threadsRequested: threads,
    // ort 1.18 quietly runs one thread when SharedArrayBuffer is missing; the binary it loaded says
    // what it really does.
    threadsEffective: backend === 'wasm' && files.length ? (threaded ? ort.env.wasm.numThreads : 1) : null,
    simdEffective: backend === 'wasm' && files.length ? files.some((f) => f.file.includes('simd')) : null,
    crossOriginIsolated: self.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    ortVersion: ort.env.versions?.common ?? null,
    wasmFiles: files,
    webglRenderer: backend === 'webgl' ? webglRenderer() : null,
  };
}

async function load({ url }) {
  const known = sessions.get(url);
  if (known) return { ...(await known).load, cached: true, engine: describe() };
  const loading = createSession(url);
  sessions.set(url, loading);
  // a load that failed is tried again by the next caller
  loading.catch(() => sessions.get(url) === loading && sessions.delete(url));
  return { ...(await loading).load, cached: false, engine: describe() };
}

// The model file's bytes; every error names the file: no answer, an HTTP error, or a connection
// dropped midway (the body's read fails with words that name nothing either).
async function download(url) {
  const response = await fetchNamed(url, url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`${url}: the download broke off (${error.message})`);
  }
}

async function createSession(url) {
  const fetchStart = performance.now();
  const bytes = await download(url);
  const downloadMs = performance.now() - fetchStart;
  const entry = resourceEntry(url);
  const sessionStart = performance.now();
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    // ort's words ("No graph was found in the protobuf") name no file: which model, and how much came
    throw new Error(`${url} (${bytes.byteLength} bytes): ${error?.message ?? error}`);
  }
  const sessionMs = performance.now() - sessionStart;
  const info = {
    modelBytes: bytes.byteLength,
    // 0 when the HTTP cache answered (a 304 revalidation sends headers only)
    transferBytes: entry ? entry.transferSize : null,
    downloadMs,
    sessionMs,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    // the runtime this model's first use fetched: none when an earlier model in this frame did
    runtimeFiles: wasmFiles(fetchStart),
  };
  return { session, load: info };
}

async function run({ url, data, dims }) {
  const entry = sessions.get(url);
  if (!entry) throw new Error(`model ${url} is not loaded`);
  const { session } = await entry;
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
  const start = performance.now();
  const results = await session.run(feeds);
  const inferenceMs = performance.now() - start;
  const outputs = {};
  const transfer = [];
  for (const name of session.outputNames) {
    const copy = new Float32Array(results[name].data); // own buffer, transferable
    outputs[name] = { dims: results[name].dims, data: copy };
    transfer.push(copy.buffer);
  }
  return { result: { outputs, inferenceMs }, transfer };
}

const handlers = {
  load: async (args) => ({ result: await load(args), transfer: [] }),
  run,
  describe: async () => ({ result: describe(), transfer: [] }),
};

function configure() {
  ort.env.wasm.wasmPaths = new URL('vendor/', location.href).href;
  ort.env.wasm.simd = simd;
  ort.env.wasm.numThreads = threads; // the default is half the cores: always say it
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
}

// Why ort.min.js (the classic script before this module) defined no `ort`: its fetch's status, when
// the browser kept it, else a file that ran but is not (or no longer whole) onnxruntime-web.
function whyNoRuntime() {
  const status = resourceEntry(RUNTIME)?.responseStatus;
  const why = status && status >= 400 ? `HTTP ${status}` : 'it defined no `ort` (cut short, or not onnxruntime-web)';
  return `onnxruntime-web did not load: ${RUNTIME}: ${why}`;
}

function serve() {
  window.addEventListener('message', async (event) => {
    if (event.origin !== location.origin || event.source !== parent) return;
    const { id, op, args } = event.data;
    try {
      const { result, transfer } = await handlers[op](args ?? {});
      parent.postMessage({ id, ok: true, result }, location.origin, transfer);
    } catch (error) {
      parent.postMessage({ id, ok: false, error: String(error?.message ?? error) }, location.origin);
    }
  });
  // A failure outside a handler (e.g. a pthread worker that cannot start) would leave the page waiting:
  // report it so the page fails every pending call instead.
  window.addEventListener('error', (event) => {
    parent.postMessage({ id: -1, ok: false, error: String(event.message) }, location.origin);
  });
  parent.postMessage({ id: 0, ok: true, result: 'ready' }, location.origin);
}

// Without the runtime the page hears why at once, instead of waiting for a 'ready' that never comes.
if (ort?.InferenceSession) {
  configure();
  serve();
} else {
  parent.postMessage({ id: 0, ok: false, error: whyNoRuntime() }, location.origin);
}
