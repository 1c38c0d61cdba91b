// The browser path: preprocess on the page, infer in the engine frame, decode on the page; every
// stage timed so it sits beside the server's stages.
import { topK } from './classification.mjs';
import { detectFaces } from './detection.mjs';
import { engineFor } from './engines.mjs';
import { loadLabels, modelUrl } from './manifest.mjs';
import { toModelInput } from './preprocess.mjs';

/**
 * picture: {bitmap, width, height, decodeMs}, decodeMs the file's decode into the bitmap (none for a
 * camera frame); job: {task, model, precision, topK};
 * config: {backend, simd, threads}.
 */
export async function runInBrowser(manifest, picture, job, config) {
  const spec = manifest.models[job.model];
  const webgl = config.backend === 'webgl';
  if (webgl && job.precision !== 'fp32') {
    // onnxruntime-web's WebGL backend has no int8 (DequantizeLinear) kernels
    throw new Error(`WebGL runs fp32 models only, not ${job.precision}: pick fp32, or the wasm backend`);
  }
  const engine = engineFor(config);
  const url = modelUrl(job.model, job.precision, webgl);
  const start = performance.now();
  // a new configuration's frame loads and starts onnxruntime-web (ort.min.js) first: its own line,
  // not an unexplained part of the first run's total
  const newFrame = !engine.started;
  await engine.ready;
  const frameMs = newFrame ? performance.now() - start : null;
  // the labels (a few KB) come with the model on first use, not inside the postprocessing's time
  const classify = spec.task === 'classification';
  const [load, labels] = await Promise.all([engine.load(url), classify ? loadLabels(job.model) : null]);
  const input = toModelInput(picture.bitmap, picture.width, picture.height, spec.input);
  const ran = await engine.run(url, input.data, input.dims);
  const postStart = performance.now();
  let result;
  if (classify) {
    const scores = Object.values(ran.outputs)[0].data;
    result = { predictions: topK(scores, labels, spec.labels?.background_index ?? null, job.topK ?? 5) };
  } else {
    result = { faces: detectFaces(ran.outputs, spec, input.letterbox, picture.width, picture.height) };
  }
  const postprocessMs = performance.now() - postStart;
  return {
    result,
    engine: load.engine,
    timing: {
      firstUse: load.cached
        ? null
        : {
            frameMs,
            modelBytes: load.modelBytes,
            transferBytes: load.transferBytes,
            downloadMs: load.downloadMs,
            sessionMs: load.sessionMs,
            wasmFiles: load.runtimeFiles,
          },
      decodeMs: picture.decodeMs ?? null, // at the pick, before the run: not in totalMs
      preprocessMs: input.ms,
      inferenceMs: ran.inferenceMs,
      postprocessMs,
      totalMs: performance.now() - start,
    },
  };
}
