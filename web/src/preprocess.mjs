import { resize } from './resample.mjs';

// Picture -> model input, as service/imaging/preprocess.py does it: MobileNet takes the central
// fraction then a bilinear resize, BlazeFace a letterbox that keeps the aspect ratio; then
// (pixel - mean) * float32(1 / std) into a float32 NHWC tensor. The resize is the server's own, to the
// byte (resample.mjs); the picture's decoder still differs (the browser's vs libjpeg-turbo, and the server
// decodes large JPEGs at a reduced DCT scale), so on JPEGs agreement is judged on results (same top-1,
// same faces); on lossless pictures the model input is the same.

// Python's round(): halves go to the even neighbour, so both sides pick the same letterbox size.
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function layout(input, width, height) {
  if (input.resize === 'center_crop') {
    // tf.image.central_crop's whole-pixel margins, as the server (Python's int() truncates)
    const left = Math.trunc((width - width * input.central_fraction) / 2);
    const top = Math.trunc((height - height * input.central_fraction) / 2);
    return {
      source: [left, top, width - 2 * left, height - 2 * top],
      target: [0, 0, input.width, input.height],
      letterbox: { left: 0, top: 0, width: 1, height: 1 },
    };
  }
  const scale = Math.min(input.width / width, input.height / height);
  const newW = Math.max(1, Math.min(input.width, roundHalfEven(width * scale)));
  const newH = Math.max(1, Math.min(input.height, roundHalfEven(height * scale)));
  const left = Math.floor((input.width - newW) / 2);
  const top = Math.floor((input.height - newH) / 2);
  return {
    source: [0, 0, width, height],
    target: [left, top, newW, newH],
    letterbox: {
      left: left / input.width,
      top: top / input.height,
      width: newW / input.width,
      height: newH / input.height,
    },
  };
}

let canvas = null;

/**
 * The picture's RGBA bytes at its own size (the resize below is the server's, not the canvas's),
 * composited over black as the server does (service/imaging/decode.py): getImageData on a transparent
 * canvas gives a half-transparent pixel's colour back at full strength, the server a darker one.
 */
function pixelsOf(picture, width, height) {
  canvas ??= new OffscreenCanvas(width, height);
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.fillStyle = '#000';
  context.fillRect(0, 0, width, height);
  context.drawImage(picture, 0, 0);
  return context.getImageData(0, 0, width, height).data;
}

export function toModelInput(picture, width, height, input) {
  const start = performance.now();
  const plan = layout(input, width, height);
  const [left, top, newW, newH] = plan.target;
  const rgb = resize(pixelsOf(picture, width, height), width, plan.source, newW, newH);
  // (pixel - mean) * float32(1 / std), as service/imaging/tensor.py: dividing by 127.5 in float64
  // instead lands one float32 step off the server for half the pixel values. Both factors are float32
  // and their product exact in float64, so storing it rounds as a float32 multiply does.
  const mean = Math.fround(input.mean);
  const inverseStd = Math.fround(1 / input.std);
  const normalized = (pixel) => Math.fround(pixel - mean) * inverseStd;
  // zeros outside the picture (the letterbox bars), as the server's np.zeros canvas
  const data = new Float32Array(input.width * input.height * 3).fill(normalized(0));
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW; x++) {
      const i = (y * newW + x) * 3;
      const j = ((y + top) * input.width + x + left) * 3;
      data[j] = normalized(rgb[i]);
      data[j + 1] = normalized(rgb[i + 1]);
      data[j + 2] = normalized(rgb[i + 2]);
    }
  }
  return {
    data,
    dims: [1, input.height, input.width, 3],
    letterbox: plan.letterbox,
    ms: performance.now() - start,
  };
}
