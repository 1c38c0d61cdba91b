// One hidden same-origin frame per onnxruntime-web configuration (backend, SIMD, threads): ort reads
// its wasm flags once per realm, so switching SIMD off means another realm, not another session.
const engines = new Map();
let nextId = 1;
// what engine.mjs sets on its window first thing: the frame's scripts did run
export const STARTED = 'mvaEngineStarted';
const FRAME_FILES = ['/web/engine.html', '/web/engine.mjs'];

// Which of the frame's own files did not come (a HEAD each: the frame's failed navigation keeps no
// status the page can read).
async function whyNoFrame() {
  for (const file of FRAME_FILES) {
    try {
      const response = await fetch(file, { method: 'HEAD', cache: 'no-store' });
      if (!response.ok) return `${file.split('/').pop()}: HTTP ${response.status}`;
    } catch (error) {
      return `${file.split('/').pop()}: ${error.message}`;
    }
  }
  return 'engine.html did not run engine.mjs';
}

export function configKey({ backend, simd, threads }) {
  return backend === 'wasm' ? `wasm simd=${simd ? 'on' : 'off'} threads=${threads}` : `${backend}`;
}

class BrowserEngine {
  constructor(config) {
    this.config = config;
    this.pending = new Map();
    this.frame = document.createElement('iframe');
    this.frame.hidden = true;
    this.frame.title = configKey(config);
    const query = new URLSearchParams({
      backend: config.backend,
      simd: config.simd ? '1' : '0',
      threads: String(config.threads),
    });
    // id 0: the frame's first word, 'ready' or why it cannot run (e.g. onnxruntime-web did not load)
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve, reject }));
    this.started = false; // the frame has said 'ready'
    this.ready.then(() => (this.started = true), () => {});
    this.listener = (event) => this.onMessage(event);
    window.addEventListener('message', this.listener);
    // engine.html or engine.mjs missing (a 404, a proxy's error page) sends no word at all: without
    // this the run would wait for good
    this.frame.addEventListener('load', () => this.checkStarted());
    this.frame.src = `/web/engine.html?${query}`;
    document.body.append(this.frame);
  }

  // By the frame's load event engine.mjs (a module script: it runs before that event) has run if it
  // could, and marked the frame; its first word may still be on its way, the mark is not.
  async checkStarted() {
    let started;
    try {
      if (this.frame.contentWindow.location.href === 'about:blank') return; // not yet engine.html
      started = this.frame.contentWindow[STARTED] === true;
    } catch {
      started = false; // a browser error page (e.g. the answer lacked the isolation headers) is cross-origin
    }
    const waiter = this.pending.get(0);
    if (started || !waiter) return;
    this.pending.delete(0);
    waiter.reject(new Error(`${configKey(this.config)}: the engine frame did not start: ${await whyNoFrame()}`));
    this.discard();
  }

  onMessage(event) {
    if (event.origin !== location.origin || event.source !== this.frame.contentWindow) return;
    const { id, ok, result, error } = event.data;
    if (id === -1) {
      for (const [pendingId, waiter] of this.pending) {
        if (pendingId === 0) continue;
        this.pending.delete(pendingId);
        waiter.reject(new Error(`${configKey(this.config)}: ${error}`));
      }
      return;
    }
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (ok) waiter.resolve(result);
    else waiter.reject(new Error(`${configKey(this.config)}: ${error}`));
    if (id === 0 && !ok) this.discard();
  }

  // A frame that could not start goes: the next run of this configuration tries a new one.
  discard() {
    window.removeEventListener('message', this.listener);
    this.frame.remove();
    const key = configKey(this.config);
    if (engines.get(key) === this) engines.delete(key);
  }

  async call(op, args = {}, transfer = []) {
    await this.ready;
    const id = nextId++;
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.frame.contentWindow.postMessage({ id, op, args }, location.origin, transfer);
    return answer;
  }

  load(url) {
    return this.call('load', { url });
  }

  run(url, data, dims) {
    return this.call('run', { url, data, dims }, [data.buffer]);
  }

  describe() {
    return this.call('describe');
  }
}

export function engineFor(config) {
  const key = configKey(config);
  if (!engines.has(key)) engines.set(key, new BrowserEngine(config));
  return engines.get(key);
}
