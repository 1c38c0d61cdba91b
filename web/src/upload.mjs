// What the page sends the server: the file as picked, or a JPEG the browser shrinks first to the
// smallest size that loses nothing at the model's input (service/imaging/preprocess.py's
// min_source_size, on the manifest's input): the third way between "all on the server" and "all in
// the browser". A 1080p PNG goes out as a few KiB, and the server decodes a small JPEG instead of a
// picture that costs it several inferences (README, "What the upload's format costs").

import { callApi } from './api.mjs';

export const JPEG_QUALITY = 0.9;

/** The smallest size of a width x height picture that keeps the model input whole; never larger. */
export function minSourceSize(input, width, height) {
  const scale = Math.min(
    1,
    input.resize === 'center_crop'
      ? Math.max(input.width / (width * input.central_fraction), input.height / (height * input.central_fraction))
      : Math.min(input.width / width, input.height / height),
  );
  return [Math.max(1, Math.ceil(width * scale)), Math.max(1, Math.ceil(height * scale))];
}

/**
 * {mode, blob, shrinkMs, scale}: what to upload, how long shrinking took (0 for the original) and the
 * factors [x, y] from the uploaded picture's pixels back to the original's (for the server's faces).
 */
export async function uploadFor(mode, picture, blob, input) {
  if (mode !== 'shrunk') return { mode: 'original', blob, shrinkMs: 0, scale: [1, 1] };
  const start = performance.now();
  const [width, height] = minSourceSize(input, picture.width, picture.height);
  const small = await createImageBitmap(picture.bitmap, {
    resizeWidth: width,
    resizeHeight: height,
    resizeQuality: 'high',
  });
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').drawImage(small, 0, 0);
  small.close();
  const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: JPEG_QUALITY });
  const scale = [picture.width / width, picture.height / height];
  return { mode, blob: jpeg, shrinkMs: performance.now() - start, scale };
}

/** The server's faces (in the uploaded picture's pixels) in the original picture's pixels. */
export function facesInOriginal(faces, [sx, sy]) {
  if (sx === 1 && sy === 1) return faces;
  const factor = { x_min: sx, x_max: sx, width: sx, y_min: sy, y_max: sy, height: sy };
  return faces.map((face) => ({
    ...face,
    box: Object.fromEntries(Object.entries(face.box).map(([k, v]) => [k, v * factor[k]])),
    keypoints: face.keypoints.map((p) => ({ ...p, x: p.x * sx, y: p.y * sy })),
  }));
}

/** Upload (as chosen), call the API, and give the answer in the original picture's coordinates. */
export async function callWithUpload(mode, picture, blob, input, task, query) {
  const upload = await uploadFor(mode, picture, blob, input);
  const server = await callApi(task, upload.blob, query);
  if (server.payload.faces) server.payload.faces = facesInOriginal(server.payload.faces, upload.scale);
  server.timing.upload = upload.mode;
  server.timing.shrinkMs = upload.shrinkMs;
  server.timing.totalMs = upload.shrinkMs + server.timing.roundTripMs;
  return server;
}
