// Picture -> model input, as service/imaging/preprocess.py does it: MobileNet takes the central
// fraction then a bilinear resize, BlazeFace a letterbox that keeps the aspect ratio; then
// (pixel - mean) / std into a float32 NHWC tensor. The canvas resamples (Pillow's bilinear differs
// slightly), so agreement is judged on results (same top-1, same faces), not on pixels.

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
    const cropW = width * input.central_fraction;
    const cropH = height * input.central_fraction;
    return {
      source: [(width - cropW) / 2, (height - cropH) / 2, cropW, cropH],
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

export function toModelInput(picture, width, height, input) {
  const start = performance.now();
  const plan = layout(input, width, height);
  canvas ??= new OffscreenCanvas(input.width, input.height);
  canvas.width = input.width;
  canvas.height = input.height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.fillStyle = '#000';
  context.fillRect(0, 0, input.width, input.height);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high'; // antialiased like Pillow's downscaling filter
  context.drawImage(picture, ...plan.source, ...plan.target);
  const rgba = context.getImageData(0, 0, input.width, input.height).data;
  const data = new Float32Array(input.width * input.height * 3);
  const { mean, std } = input;
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = (rgba[i] - mean) / std;
    data[j + 1] = (rgba[i + 1] - mean) / std;
    data[j + 2] = (rgba[i + 2] - mean) / std;
  }
  return {
    data,
    dims: [1, input.height, input.width, 3],
    letterbox: plan.letterbox,
    ms: performance.now() - start,
  };
}
