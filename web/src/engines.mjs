// One hidden same-origin frame per onnxruntime-web configuration (backend, SIMD, threads): ort reads
// its wasm flags once per realm, so switching SIMD off means another realm, not another session.
const engines = new Map();
let nextId = 1;

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
    this.listener = (event) => this.onMessage(event);
    window.addEventListener('message', this.listener);
    this.frame.src = `/web/engine.html?${query}`;
    document.body.append(this.frame);
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
