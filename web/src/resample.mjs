// service/imaging/preprocess.py's resize, to the same bytes, so the browser feeds the model the
// server's pixels: a box average by the integer factor that leaves less than 2x to go (OpenCV's
// INTER_AREA), then OpenCV's INTER_LINEAR for 8-bit pictures: half-pixel centres, 11-bit weights computed in
// float32, a horizontal pass kept at 2^11 and OpenCV's vector rounding in the vertical pass.

const ONE = 2048; // OpenCV's INTER_RESIZE_COEF_SCALE

// cvRound: halves go to the even neighbour.
function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Per output pixel: the two source indices and their weights. */
function taps(inSize, outSize) {
  const scale = 1 / (outSize / inSize);
  const first = new Int32Array(outSize);
  const second = new Int32Array(outSize);
  const w0 = new Int32Array(outSize);
  const w1 = new Int32Array(outSize);
  for (let d = 0; d < outSize; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= inSize - 1) {
      s = inSize - 1;
      f = 0;
    }
    first[d] = s;
    second[d] = Math.min(s + 1, inSize - 1);
    w0[d] = roundHalfEven(Math.fround(1 - f) * ONE);
    w1[d] = roundHalfEven(f * ONE);
  }
  return { first, second, w0, w1 };
}

/**
 * RGB bytes of a width x height picture -> the mean of each factor x factor block (partial edges
 * dropped), rounded as OpenCV's INTER_AREA at an integer scale: factor 2 half up, larger factors
 * float32(sum * float32(1 / area)) half to even.
 */
export function boxReduce(rgb, width, height, factor) {
  const outW = Math.floor(width / factor);
  const outH = Math.floor(height / factor);
  const scale = Math.fround(1 / (factor * factor));
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          const row = (y * factor + dy) * width;
          for (let dx = 0; dx < factor; dx++) sum += rgb[(row + x * factor + dx) * 3 + c];
        }
        out[(y * outW + x) * 3 + c] = factor === 2 ? (sum + 2) >> 2 : roundHalfEven(Math.fround(sum * scale));
      }
    }
  }
  return { rgb: out, width: outW, height: outH };
}

/** OpenCV INTER_LINEAR on RGB bytes. */
export function resizeLinear(rgb, width, height, outW, outH) {
  const h = taps(width, outW);
  const v = taps(height, outH);
  const rows = new Int32Array(height * outW * 3); // horizontal pass, each value x 2^11
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const a = (y * width + h.first[x]) * 3;
      const b = (y * width + h.second[x]) * 3;
      const o = (y * outW + x) * 3;
      for (let c = 0; c < 3; c++) rows[o + c] = rgb[a + c] * h.w0[x] + rgb[b + c] * h.w1[x];
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const top = v.first[y] * outW * 3;
    const bottom = v.second[y] * outW * 3;
    const b0 = v.w0[y];
    const b1 = v.w1[y];
    for (let i = 0; i < outW * 3; i++) {
      // (s >> 4) * b fits 32 bits; >> 16 is the vector path's high half of a 16-bit product
      const sum = (((rows[top + i] >> 4) * b0) >> 16) + (((rows[bottom + i] >> 4) * b1) >> 16);
      out[y * outW * 3 + i] = Math.min(255, Math.max(0, (sum + 2) >> 2));
    }
  }
  return out;
}

/**
 * rgba: RGBA bytes of a width x height picture; box: [left, top, width, height] in whole pixels.
 * Returns RGB bytes of outW x outH.
 */
export function resize(rgba, width, box, outW, outH) {
  const [left, top, boxW, boxH] = box;
  let rgb = new Uint8Array(boxW * boxH * 3);
  for (let y = 0; y < boxH; y++) {
    for (let x = 0; x < boxW; x++) {
      const p = ((y + top) * width + x + left) * 4;
      const o = (y * boxW + x) * 3;
      rgb[o] = rgba[p];
      rgb[o + 1] = rgba[p + 1];
      rgb[o + 2] = rgba[p + 2];
    }
  }
  let w = boxW;
  let h = boxH;
  const factor = Math.min(Math.floor(w / outW), Math.floor(h / outH));
  if (factor >= 2) ({ rgb, width: w, height: h } = boxReduce(rgb, w, h, factor));
  return resizeLinear(rgb, w, h, outW, outH);
}
