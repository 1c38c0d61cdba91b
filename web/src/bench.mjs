// Benchmark mode: N iterations of each configuration on the current picture, browser variants
// (SIMD off/on x threads) and server engines one after the other, so they share the machine's state.
import { serverQuery } from './api.mjs';
import { runInBrowser } from './browser.mjs';
import { configKey } from './engines.mjs';
import { quantile } from './stats.mjs';
import { callWithUpload } from './upload.mjs';

export function browserConfigs(maxThreads) {
  const threads = [1, 2].filter((t) => t <= Math.max(1, maxThreads));
  return [false, true].flatMap((simd) => threads.map((t) => ({ backend: 'wasm', simd, threads: t })));
}

export function serverConfigs(cores) {
  const configs = [{ engine: 'onnxruntime', threads: 1 }];
  if (cores >= 2) configs.push({ engine: 'onnxruntime', threads: 2 });
  configs.push({ engine: 'litert', simd: 'on', threads: 1 }, { engine: 'litert', simd: 'off', threads: 1 });
  return configs;
}

// precision: what the server ran, when not the job's (LiteRT runs MobileNetV2's tflite, int8, only)
function serverLabel(c, upload, precision) {
  const shrunk = upload === 'shrunk' ? ', shrunk upload' : '';
  const ran = precision ? ` (ran ${precision})` : '';
  return `server ${c.engine}${c.simd ? ` simd=${c.simd}` : ''} threads=${c.threads}${shrunk}${ran}`;
}

// onnxruntime-web quietly runs one thread without cross-origin isolation (and the plain binary without
// wasm SIMD): a row must not claim what did not run
function asRun(config, engine) {
  const { threadsEffective: threads, simdEffective: simd } = engine;
  if (threads === null || (threads === config.threads && simd === config.simd)) return '';
  return ` (ran ${threads} thread(s), ${simd ? 'SIMD' : 'no SIMD'}${engine.crossOriginIsolated ? '' : ': not cross-origin isolated'})`;
}

function summarize(row) {
  const totals = row.samples.map((s) => s.totalMs);
  return {
    ...row,
    medianMs: quantile(totals, 0.5),
    p90Ms: quantile(totals, 0.9),
    inferenceMs: quantile(row.samples.map((s) => s.inferenceMs), 0.5),
  };
}

// One configuration's row: `first` (its untimed first use) gives the row's own fields (label, ...), then
// `timed` gives one sample per iteration. A call that throws ends the row there with its error, naming
// the call (first use, or timed run k of n), and keeps the samples timed before it; the benchmark goes
// on with the next configuration (a failed one must not take the others' figures with it).
async function measured(row, iterations, first, timed) {
  const failed = (own, call, error, samples) => {
    return { ...row, ...own, error: `${call}: ${error?.message ?? error}`, samples };
  };
  let own;
  try {
    own = await first();
  } catch (error) {
    return failed({}, 'first use', error, []);
  }
  const samples = [];
  for (let i = 1; i <= iterations; i++) {
    try {
      samples.push(await timed());
    } catch (error) {
      return failed(own, `timed run ${i} of ${iterations}`, error, samples);
    }
  }
  return summarize({ ...row, ...own, samples });
}

export async function runBenchmark({
  manifest,
  picture,
  blob,
  upload = 'original',
  job,
  iterations,
  cores,
  onProgress,
}) {
  const rows = [];
  const hw = navigator.hardwareConcurrency || 1;
  for (const config of browserConfigs(hw)) {
    const asked = `browser ${configKey(config)}`;
    onProgress?.(asked);
    const run = () => runInBrowser(manifest, picture, job, config);
    const first = async () => {
      const { engine, timing } = await run(); // first use: download + session
      return { label: asked + asRun(config, engine), engine, firstUse: timing.firstUse, firstTotalMs: timing.totalMs };
    };
    const timed = async () => {
      const { timing } = await run();
      const { totalMs, inferenceMs, preprocessMs, postprocessMs } = timing;
      return { totalMs, inferenceMs, preprocessMs, postprocessMs };
    };
    rows.push(await measured({ side: 'browser', label: asked, config }, iterations, first, timed));
  }
  // the first server configuration once more with the other upload (the picture as picked, or shrunk
  // in the browser first), so every report has the two side by side
  const other = upload === 'shrunk' ? 'original' : 'shrunk';
  const configs = serverConfigs(cores);
  const runs = [...configs.map((config) => [config, upload]), [configs[0], other]];
  for (const [config, mode] of runs) {
    onProgress?.(serverLabel(config, mode));
    // the configuration's own query: the Server settings chosen for a single run do not apply here
    const query = serverQuery(job, config);
    // each iteration shrinks again when asked to: a real client would, per picture
    const call = () => callWithUpload(mode, picture, blob, manifest.models[job.model].input, job.task, query);
    const row = { side: 'server', label: serverLabel(config, mode), config, upload: mode };
    const first = async () => {
      const { payload } = await call(); // first use builds the runner on the server
      const ran = payload.settings.precision;
      return { label: serverLabel(config, mode, ran && ran !== job.precision ? ran : null) };
    };
    const timed = async () => {
      const { timing } = await call();
      return {
        totalMs: timing.totalMs,
        shrinkMs: timing.shrinkMs,
        inferenceMs: timing.server.inference,
        serverTotalMs: timing.serverTotalMs,
        networkMs: timing.networkMs,
        uploadBytes: timing.uploadBytes,
      };
    };
    rows.push(await measured(row, iterations, first, timed));
  }
  return rows;
}
