// Pillow's bilinear resize (Image.resize(..., BILINEAR, box)), so the browser feeds the model the same
// pixels as the server: a separable triangle filter whose support widens with the downscale factor
// (antialiasing), 8-bit fixed-point weights, horizontal pass then vertical pass, each rounded to 8 bits.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function triangle(x) {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Per output pixel: the first input index and the fixed-point weights. */
function coefficients(inSize, in0, in1, outSize) {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the bilinear filter's support is 1
  const inverse = 1 / filterScale;
  const bounds = new Int32Array(outSize);
  const weights = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(Math.max(count, 0));
    let total = 0;
    for (let x = 0; x < count; x++) {
      k[x] = triangle((x + xmin - center + 0.5) * inverse);
      total += k[x];
    }
    const fixed = new Int32Array(k.length);
    for (let x = 0; x < k.length; x++) {
      const w = total === 0 ? k[x] : k[x] / total;
      fixed[x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx] = xmin;
    weights.push(fixed);
  }
  return { bounds, weights };
}

const clip8 = (sum) => Math.min(255, Math.max(0, Math.floor(sum / ONE)));

/**
 * rgba: RGBA bytes of a width x height picture; box: [x0, y0, x1, y1] in input pixels.
 * Returns RGB bytes of outW x outH.
 */
export function resizeBilinear(rgba, width, height, box, outW, outH) {
  const [x0, y0, x1, y1] = box;
  const horizontal = coefficients(width, x0, x1, outW);
  const vertical = coefficients(height, y0, y1, outH);
  // only the rows the vertical pass reads go through the horizontal pass
  const firstRow = vertical.bounds[0];
  const lastRow = vertical.bounds[outH - 1] + vertical.weights[outH - 1].length;
  const rows = lastRow - firstRow;
  const temp = new Uint8Array(rows * outW * 3);
  for (let y = 0; y < rows; y++) {
    const inRow = (y + firstRow) * width * 4;
    for (let xx = 0; xx < outW; xx++) {
      const k = horizontal.weights[xx];
      const start = inRow + horizontal.bounds[xx] * 4;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let i = 0; i < k.length; i++) {
        const p = start + i * 4;
        r += rgba[p] * k[i];
        g += rgba[p + 1] * k[i];
        b += rgba[p + 2] * k[i];
      }
      const o = (y * outW + xx) * 3;
      temp[o] = clip8(r);
      temp[o + 1] = clip8(g);
      temp[o + 2] = clip8(b);
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const k = vertical.weights[yy];
    const top = vertical.bounds[yy] - firstRow;
    for (let xx = 0; xx < outW; xx++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let i = 0; i < k.length; i++) {
        const p = ((top + i) * outW + xx) * 3;
        r += temp[p] * k[i];
        g += temp[p + 1] * k[i];
        b += temp[p + 2] * k[i];
      }
      const o = (yy * outW + xx) * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return out;
}
