// Page wiring: pick a picture and settings, run both paths, show results and timings side by side.
// Results land in window.mva (last, bench) too, so the browser tests and `bench --browser` read the
// very numbers the page shows.
import { getApiKey, serverQuery, setApiKey } from './api.mjs';
import { runBenchmark } from './bench.mjs';
import { runInBrowser } from './browser.mjs';
import { drawChart } from './chart.mjs';
import { classifierOf, detectorChoices, precisionChoices } from './choices.mjs';
import { drawScene } from './draw.mjs';
import { configKey } from './engines.mjs';
import { iterationsFrom } from './iterations.mjs';
import { LiveMode } from './live.mjs';
import { loadManifest, loadServerInfo } from './manifest.mjs';
import { callWithUpload } from './upload.mjs';

const $ = (id) => document.getElementById(id);
// busy: what is under way ('run', 'benchmark') or false; inUse: the picture it works on (it may have
// been replaced meanwhile)
const state = { manifest: null, server: null, picture: null, blob: null, live: null, busy: false, inUse: null };
window.mva = { state, last: null, bench: null, errors: [] };

const ms = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(1)} ms`);
const kib = (b) => (b === null || b === undefined ? '–' : `${(b / 1024).toFixed(0)} KiB`);

// An error stays on the status line until the person acts (a button, a change of a control, a
// drop): what work under way says next (the manifest loaded, a picture decoded meanwhile) is shown
// after it, and does not wipe it before it is read. Live mode's errors likewise stay on its line.
let standingError = null;
const liveErrors = { browser: null, server: null };

function acknowledgeErrors() {
  standingError = null;
  liveErrors.browser = liveErrors.server = null;
}

// pageState: body[data-state], what the tests and `bench --browser` wait for
function setStatus(text, pageState = 'idle') {
  if (standingError) {
    $('status').textContent = `${standingError} · since: ${text}`;
    return;
  }
  $('status').textContent = text;
  document.body.dataset.state = pageState;
}

// Run and Benchmark need a picture and the manifest, and go one at a time: a run reads its picture
// and settings when it starts, and neither the picture nor a second run may change under it. Live
// mode and a run exclude each other too: they share the browser's engines, the server and the
// picture shown, and neither's timing may include the other's work.
function enableButtons() {
  const ready = Boolean(state.picture && state.manifest && !state.busy && !state.live);
  for (const id of ['run', 'bench']) $(id).disabled = !ready;
  $('file').disabled = Boolean(state.busy);
  // enabled without getUserMedia too: pressed, it says why there is no camera (a disabled button did not)
  $('live').disabled = Boolean(state.busy) || !state.manifest;
}

// A decoded picture holds its full-size pixels outside the JavaScript heap until it is closed: one
// that is neither the current picture nor the one a run is using goes now, not whenever GC runs.
function retire(picture) {
  if (picture && picture !== state.picture && picture !== state.inUse) picture.bitmap.close();
}

async function exclusively(what, work) {
  if (state.busy) return;
  state.busy = what;
  state.inUse = state.picture;
  enableButtons();
  try {
    await work();
  } finally {
    const used = state.inUse;
    state.busy = false;
    state.inUse = null;
    retire(used);
    enableButtons();
  }
}

function job() {
  const classify = $('task').value === 'classify';
  const model = classify ? classifierOf(state.manifest) : $('detector').value;
  return {
    task: $('task').value,
    model,
    // a detector has no precision to choose: its own, the first the manifest lists, which is also what
    // the server runs when the query names none
    precision: classify ? $('precision').value : state.manifest?.models[model]?.precisions[0],
    topK: 5,
  };
}

function browserConfig() {
  return { backend: $('backend').value, simd: $('browser-simd').value === '1', threads: Number($('browser-threads').value) };
}

function apiQuery(j) {
  return serverQuery(j, { engine: $('engine').value, simd: $('server-simd').value, threads: $('server-threads').value });
}

// choices: [{value, label}]; the first is selected
function offer(select, choices) {
  select.replaceChildren(...choices.map(({ value, label }) => new Option(label, value)));
}

function fillThreads(select, max) {
  offer(select, Array.from({ length: max }, (_, i) => ({ value: String(i + 1), label: String(i + 1) })));
}

function rows(table, pairs) {
  table.replaceChildren(
    ...pairs.map(([name, value]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = name;
      const td = document.createElement('td');
      td.className = 'num';
      td.textContent = value;
      tr.append(th, td);
      return tr;
    }),
  );
}

function describeResult(target, result) {
  const list = document.createElement('ol');
  if (result.predictions) {
    for (const p of result.predictions) {
      const li = document.createElement('li');
      li.textContent = `${p.label} — ${(p.score * 100).toFixed(1)}%`;
      list.append(li);
    }
  } else {
    for (const f of result.faces) {
      const li = document.createElement('li');
      const b = f.box;
      li.textContent = `face ${(f.score * 100).toFixed(0)}% at (${b.x_min.toFixed(0)}, ${b.y_min.toFixed(0)}) ${b.width.toFixed(0)}×${b.height.toFixed(0)}`;
      list.append(li);
    }
    if (!result.faces.length) list.append(Object.assign(document.createElement('li'), { textContent: 'no face' }));
  }
  target.replaceChildren(list);
}

function showBrowser(run) {
  describeResult($('browser-result'), run.result);
  const first = run.timing.firstUse;
  const e = run.engine;
  const pairs = [
    ['configuration', `${configKey({ ...e, threads: e.threadsRequested })}${e.threadsEffective !== null ? ` (effective ${e.threadsEffective} thread(s), ${e.simdEffective ? 'SIMD' : 'no SIMD'})` : ''}`],
    ['crossOriginIsolated', String(e.crossOriginIsolated)],
  ];
  if (e.webglRenderer) pairs.push(['WebGL renderer', e.webglRenderer]);
  if (first) {
    const wasm = first.wasmFiles
      .map((f) => `${f.file} ${f.transferBytes ? kib(f.transferBytes) : `(HTTP cache, ${kib(f.bodyBytes)})`}`)
      .join(', ');
    if (first.frameMs !== null) pairs.push(['engine frame + ort.min.js start (first use)', ms(first.frameMs)]);
    pairs.push(
      ['runtime (first use)', wasm || (e.wasmFiles.length ? 'loaded before, for another model' : '–')],
      ['model download (first use)', `${kib(first.transferBytes)} of ${kib(first.modelBytes)} in ${ms(first.downloadMs)}`],
      ['session creation (first use)', ms(first.sessionMs)],
    );
  } else {
    pairs.push(['model + session', 'cached in this page']);
  }
  if (run.timing.decodeMs !== null) pairs.push(['decode (once, when picked; not in the total)', ms(run.timing.decodeMs)]);
  pairs.push(
    ['preprocessing', ms(run.timing.preprocessMs)],
    ['inference', ms(run.timing.inferenceMs)],
    ['postprocessing', ms(run.timing.postprocessMs)],
    ['total', ms(run.timing.totalMs)],
  );
  rows($('browser-timing'), pairs);
}

function showServer(run) {
  describeResult($('server-result'), run.payload);
  const t = run.timing;
  const s = run.payload.settings;
  const pairs = [
    ['configuration', `${s.engine} ${s.precision ?? ''} simd=${s.simd ? 'on' : 'off'} threads=${s.threads}${s.kernels ? ` ${s.kernels}` : ''}`],
    ['upload', `${kib(t.uploadBytes)}${t.upload === 'shrunk' ? ' (JPEG shrunk in the browser)' : ''}`],
  ];
  if (t.upload === 'shrunk') pairs.push(['shrink in the browser', ms(t.shrinkMs)]);
  for (const [stage, value] of Object.entries(t.server)) if (stage !== 'total') pairs.push([`server ${stage}`, ms(value)]);
  pairs.push(
    ['server total', ms(t.serverTotalMs)],
    ['round trip', ms(t.roundTripMs)],
    ['total', ms(t.totalMs)],
    ['network + HTTP share', `${ms(t.networkMs)} (${((100 * t.networkMs) / t.roundTripMs).toFixed(0)}%)`],
  );
  rows($('server-timing'), pairs);
}

function clearAnswers(text) {
  window.mva.last = null;
  for (const side of ['browser', 'server']) {
    $(`${side}-result`).textContent = text;
    $(`${side}-timing`).replaceChildren();
  }
}

// Decoding takes a while for a big picture: a second one picked meanwhile may be ready first, and
// the page then keeps the one picked last, not the one decoded last.
let picks = 0;

// note: what the status line says first of this picture, e.g. that it was one of several dropped.
// One decode per pick: its time is the one shown (decodeMs), so nothing decodes the file again.
async function usePicture(blob, note = '') {
  const pick = ++picks;
  // the previous picture goes at once: Run waits for this one rather than run on that one, and that
  // one's answers leave the panels (a run under way keeps its own picture and shows its own answers)
  const previous = state.picture;
  state.picture = state.blob = null;
  retire(previous);
  enableButtons();
  if (!state.busy) clearAnswers('');
  let bitmap;
  const decodeStart = performance.now();
  try {
    // the stored pixel values, as the server decodes them (and the models' reference pipelines):
    // by default a browser converts a PNG's gamma or a JPEG's ICC profile (a phone's Display P3) to
    // sRGB, so the page's model input would differ from the server's for the same file
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none' });
  } catch (error) {
    if (pick !== picks) return;
    // not a picture (or one this browser cannot decode)
    $('scene').getContext('2d').clearRect(0, 0, $('scene').width, $('scene').height);
    const what = `${blob.name || 'the file'} is not a picture this browser can decode (${error.message})`;
    fail(new Error(note ? `${note}: ${what}` : what));
    return;
  }
  // the browser's counterpart of the server's `decode` stage (the file's bytes to pixels), taken once
  // per picture: the runs reuse the bitmap
  const decodeMs = performance.now() - decodeStart;
  if (pick !== picks) {
    bitmap.close();
    return;
  }
  state.picture = { bitmap, width: bitmap.width, height: bitmap.height, decodeMs, note };
  state.blob = blob;
  drawScene($('scene'), state.picture, []);
  // waiting for the manifest (or the API key): loadServer() announces the picture once it is in
  if (state.manifest) announcePicture();
}

// The picture is ready to run: the buttons go on and the status line says what it is.
function announcePicture() {
  const { picture, blob } = state;
  enableButtons();
  setStatus(`${picture.note ? `${picture.note} · ` : ''}${picture.width}×${picture.height} picture, ${kib(blob.size)}: press Run`);
}

async function runBoth() {
  const j = job();
  // everything the two sides use, read once: both run on the same picture with the settings shown
  const { picture, blob } = state;
  const config = browserConfig();
  const upload = $('upload').value;
  const query = apiQuery(j);
  setStatus('running in the browser and on the server…', 'busy');
  // the previous run's answers go: a side that fails now must not show them as this run's
  clearAnswers('running…');
  drawScene($('scene'), picture, []);
  // each side runs whatever the other did: a browser that cannot run onnxruntime-web still gets the
  // server's answer, one after the other so neither's timing includes the other's work
  const failures = [];
  let browser = null;
  try {
    browser = await runInBrowser(state.manifest, picture, j, config);
    showBrowser(browser);
    drawScene($('scene'), picture, [{ side: 'browser', ...browser.result }]);
  } catch (error) {
    failures.push(sideFailed('browser', error));
  }
  let server = null;
  try {
    const input = state.manifest.models[j.model].input;
    server = await callWithUpload(upload, picture, blob, input, j.task, query);
    showServer(server);
  } catch (error) {
    failures.push(sideFailed('server', error));
  }
  const layers = [];
  if (browser) layers.push({ side: 'browser', ...browser.result });
  if (server) layers.push({ side: 'server', ...server.payload });
  drawScene($('scene'), picture, layers);
  if (failures.length) {
    fail(new Error(failures.join('; ')));
    return;
  }
  window.mva.last = { job: j, browser, server: { payload: server.payload, timing: server.timing } };
  setStatus('done', 'done');
}

// Shows why `side` failed in its panel; the line the status names it with.
function sideFailed(side, error) {
  const message = error?.message ?? String(error);
  $(`${side}-result`).textContent = `failed: ${message}`;
  return `${side} side: ${message}`;
}

// The count the benchmark runs, written back into the field when it is not what was typed, so the
// field always shows what runs.
function readIterations() {
  const field = $('iterations');
  const limits = { min: Number(field.min), max: Number(field.max), fallback: Number(field.defaultValue) };
  const count = iterationsFrom(field.value, limits);
  if (field.value !== String(count)) field.value = String(count);
  return count;
}

// What a benchmark is of: its chart stays when another picture is picked or a setting changes (to
// compare against), so it names its own picture and settings rather than read as the current ones'.
function benchmarkOf(j, picture, blob, iterations) {
  const file = `${blob.name || 'the picture'} (${picture.width}×${picture.height}, ${kib(blob.size)})`;
  const model = `${j.task} ${j.model} ${j.precision}`;
  const upload = `upload: ${$('upload').selectedOptions[0].textContent}`;
  const count = `${iterations} iteration${iterations === 1 ? '' : 's'} per configuration`;
  return `of ${[file, model, upload, count].join(' · ')}`;
}

async function benchmark() {
  const j = job();
  const { picture, blob } = state;
  const iterations = readIterations();
  // the previous benchmark's chart goes: it may be of another picture, and one that fails now must not
  // leave it standing as this one's
  window.mva.bench = null;
  $('chart').replaceChildren();
  $('bench-table').replaceChildren();
  const of = benchmarkOf(j, picture, blob, iterations);
  $('bench-of').textContent = of;
  $('chart').setAttribute('aria-label', `benchmark chart ${of}`);
  $('benchmark').hidden = false;
  try {
    const result = await runBenchmark({
      manifest: state.manifest,
      picture,
      blob,
      upload: $('upload').value,
      job: j,
      iterations,
      cores: state.server.settings.threads.max,
      onProgress: (label) => setStatus(`benchmark: ${label} (${iterations} iterations)…`, 'busy'),
    });
    window.mva.bench = {
      job: j,
      iterations,
      picture: { width: picture.width, height: picture.height, bytes: blob.size, decodeMs: picture.decodeMs },
      userAgent: navigator.userAgent,
      hardwareConcurrency: navigator.hardwareConcurrency,
      rows: result,
    };
    // a configuration that failed has its row, saying why, and no bar; the others were measured
    const failed = result.filter((r) => r.error);
    drawChart($('chart'), result.filter((r) => !r.error));
    rows(
      $('bench-table'),
      result.map((r) => [
        r.label,
        r.error ? `failed: ${r.error}` : `median ${ms(r.medianMs)} · p90 ${ms(r.p90Ms)} · inference ${ms(r.inferenceMs)}`,
      ]),
    );
    if (failed.length) {
      const why = failed.map((r) => `${r.label}: ${r.error}`).join('; ');
      fail(new Error(`benchmark: ${failed.length} of ${result.length} configurations failed: ${why}`));
      return;
    }
    setStatus('benchmark done', 'bench-done');
  } catch (error) {
    fail(error);
  }
}

// Live mode detects faces: the task stays "detect" while it runs (its control is locked); every other
// setting is read for each frame, so a change applies from the next one (the note under the button).
function showLive(on) {
  $('live').textContent = on ? 'Stop webcam' : 'Live webcam';
  $('task').disabled = on;
  $('live-note').hidden = !on;
  if (!on) $('fps').hidden = true;
  enableButtons();
}

function liveSettings() {
  const j = job();
  return { job: j, browserConfig: browserConfig(), apiQuery: apiQuery(j), upload: $('upload').value };
}

async function toggleLive() {
  if (state.live) {
    state.live.stop();
    state.live = null;
    showLive(false);
    return;
  }
  $('task').value = 'detect';
  $('task').dispatchEvent(new Event('change'));
  const live = new LiveMode({
    video: $('video'),
    manifest: state.manifest,
    settings: liveSettings,
    onFrame: (side, picture, latest, fps, error, frames) => {
      if (picture) drawScene($('scene'), picture, [{ side: 'browser', faces: latest.browser }, { side: 'server', faces: latest.server }]);
      // the loops are independent: the boxes drawn together are of two frames, and the page says so
      const apartMs = frames.browser !== null && frames.server !== null ? Math.abs(frames.browser - frames.server) * 1000 : null;
      const apart = apartMs === null ? '' : ` · each side on its own frames: boxes ${apartMs.toFixed(0)} ms apart`;
      if (error) liveErrors[side] = error.message;
      const errors = [['browser', liveErrors.browser], ['API', liveErrors.server]]
        .filter(([, message]) => message)
        .map(([name, message]) => ` · ${name} error: ${message}`)
        .join('');
      $('fps').hidden = false;
      $('fps').textContent = `browser ${fps.browser.toFixed(1)} fps · API ${fps.server.toFixed(1)} fps${apart}${errors}`;
      window.mva.live = { fps: { ...fps }, frames: { ...frames }, apartMs };
    },
  });
  state.live = live;
  enableButtons();
  try {
    // pressed again while the camera was being asked for: stopped before it started, nothing to show
    if (await live.start()) showLive(true);
  } catch (error) {
    if (state.live === live) state.live = null;
    enableButtons();
    fail(new Error(`webcam unavailable: ${error.message}`));
  }
}

function fail(error) {
  window.mva.errors.push(String(error?.message ?? error));
  // a newer error replaces a standing one (each is in window.mva.errors too)
  standingError = null;
  setStatus(`error: ${error?.message ?? error}`, 'error');
  standingError = $('status').textContent;
}

async function gpuNote() {
  const notes = [];
  if (!('gpu' in navigator)) notes.push('WebGPU: not offered by this browser');
  else notes.push((await navigator.gpu.requestAdapter()) ? 'WebGPU: adapter present (not used: ort.min.js has no WebGPU EP)' : 'WebGPU: no adapter');
  const gl = document.createElement('canvas').getContext('webgl2');
  const info = gl?.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null;
  notes.push(renderer ? `WebGL: ${renderer}${/swiftshader/i.test(renderer) ? ' (software, not a GPU)' : ''}` : 'WebGL: none');
  $('gpu-note').textContent = notes.join(' · ');
}

// The manifest and the server's settings; a 401 (the server wants an API key) is not an error of the
// page: it asks for the key, and entering one loads again.
async function loadServer() {
  try {
    [state.manifest, state.server] = await Promise.all([loadManifest(), loadServerInfo()]);
  } catch (error) {
    if (error.status !== 401) {
      fail(error);
      return;
    }
    setStatus(
      getApiKey() ? 'the API key was refused: check it (Server › API key)' : 'the server wants an API key: enter it under Server › API key',
      'needs-key',
    );
    $('api-key').focus();
    return;
  }
  fillThreads($('server-threads'), state.server.settings.threads.max);
  offer($('precision'), precisionChoices(state.manifest));
  offer($('detector'), detectorChoices(state.manifest));
  // live mode needs the manifest too (and the server's threads): not before it has loaded
  enableButtons();
  if (state.picture) announcePicture();
  else setStatus('pick an image', 'ready');
}

async function init() {
  fillThreads($('browser-threads'), Math.max(1, navigator.hardwareConcurrency || 1));
  $('api-key').value = getApiKey();
  $('api-key').addEventListener('change', () => {
    setApiKey($('api-key').value);
    if (!state.manifest) loadServer();
  });
  $('task').addEventListener('change', () => {
    const classify = $('task').value === 'classify';
    $('precision-label').hidden = !classify;
    $('detector-label').hidden = classify;
  });
  $('file').addEventListener('change', () => $('file').files[0] && usePicture($('file').files[0]));
  // the whole page takes a drop: one a few pixels off the zone was left to the browser, which opens
  // the file in the page's place; the zone lights up when a drag is over it
  const drop = $('drop');
  drop.addEventListener('dragover', () => drop.classList.add('over'));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    acknowledgeErrors(); // an action, wherever it lands: what it says next is the news
    const { files } = e.dataTransfer;
    // the first picture of those dropped (a text file dropped beside it is not one); none, the first
    // file, whose refusal then says it is no picture
    const file = Array.from(files).find((f) => f.type.startsWith('image/')) ?? files[0];
    // text or a link dragged from elsewhere holds no file: refused in words, as a drop during a run is
    if (!file) {
      const held = e.dataTransfer.types.length ? ` (${e.dataTransfer.types.join(', ')})` : '';
      fail(new Error(`what was dropped${held} was not taken: only picture files are`));
      return;
    }
    // the work under way keeps its picture to the end (the file input is locked meanwhile): a drop is
    // refused, in words, rather than lost without a trace
    // the page compares one picture: of several dropped it takes the first picture, and says which
    const several = files.length > 1;
    if (state.busy) {
      const what = several ? `${files.length} files (${Array.from(files, (f) => f.name).join(', ')}) were` : `${file.name} was`;
      fail(new Error(`${what} not taken: a ${state.busy} is under way; drop ${several ? 'one' : 'it'} again when it ends`));
    } else usePicture(file, several ? `${files.length} files dropped: using ${file.name}` : '');
  });
  // before the control's own handler (capture): what it says next is the news, not the error
  for (const type of ['click', 'change']) {
    $('controls').addEventListener(type, (event) => (type !== 'click' || event.target.closest('button')) && acknowledgeErrors(), true);
  }
  $('run').addEventListener('click', () => exclusively('run', runBoth));
  $('bench').addEventListener('click', () => exclusively('benchmark', benchmark));
  $('live').addEventListener('click', toggleLive);
  $('iterations').addEventListener('change', readIterations);
  gpuNote().catch(() => {});
  await loadServer();
}

init();
