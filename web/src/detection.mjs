// BlazeFace outputs -> faces, in MediaPipe's stages as service/tasks/detection/*.py: SSD anchors from
// the manifest's options, sigmoid scores with clipping, box decoding, weighted NMS, then letterbox
// removal and scaling to picture pixels.

function layerScale(options, index) {
  if (options.num_layers === 1) return (options.min_scale + options.max_scale) / 2;
  return options.min_scale + ((options.max_scale - options.min_scale) * index) / (options.num_layers - 1);
}

const anchorCache = new Map();

/** Float32Array [N * 4]: x_center, y_center, width, height as fractions of the input. */
export function anchorsFor(options) {
  const key = JSON.stringify(options);
  if (anchorCache.has(key)) return anchorCache.get(key);
  const rows = [];
  const strides = options.strides;
  let layer = 0;
  while (layer < options.num_layers) {
    const sizes = [];
    let last = layer;
    // consecutive layers with the same stride share one feature map
    while (last < strides.length && strides[last] === strides[layer]) {
      const scale = layerScale(options, last);
      const pairs = options.aspect_ratios.map((ratio) => [ratio, scale]);
      if (options.interpolated_scale_aspect_ratio > 0) {
        const next = last === strides.length - 1 ? 1.0 : layerScale(options, last + 1);
        pairs.push([options.interpolated_scale_aspect_ratio, Math.sqrt(scale * next)]);
      }
      for (const [ratio, s] of pairs) sizes.push([s * Math.sqrt(ratio), s / Math.sqrt(ratio)]);
      last += 1;
    }
    const stride = strides[layer];
    const fmH = Math.ceil(options.input_size_height / stride);
    const fmW = Math.ceil(options.input_size_width / stride);
    for (let y = 0; y < fmH; y++) {
      for (let x = 0; x < fmW; x++) {
        for (const [w, h] of sizes) {
          rows.push(
            (x + options.anchor_offset_x) / fmW,
            (y + options.anchor_offset_y) / fmH,
            options.fixed_anchor_size ? 1.0 : w,
            options.fixed_anchor_size ? 1.0 : h,
          );
        }
      }
    }
    layer = last;
  }
  const anchors = new Float32Array(rows);
  anchorCache.set(key, anchors);
  return anchors;
}

/** Candidates above minScore: {score, box [x0, y0, x1, y1], keypoints [[x, y], ...]} in input fractions. */
export function decode(rawBoxes, rawScores, anchors, options, minScore) {
  const out = [];
  const clip = options.score_clipping_thresh;
  const n = options.num_coords;
  for (let i = 0; i < rawScores.length; i++) {
    const clipped = Math.min(clip, Math.max(-clip, rawScores[i]));
    const score = 0.5 + 0.5 * Math.tanh(0.5 * clipped);
    if (!(score >= minScore)) continue; // a NaN score too, as the server's `scores >= min_score`
    const [ax, ay, aw, ah] = anchors.subarray(4 * i, 4 * i + 4);
    const raw = rawBoxes.subarray(n * i, n * i + n);
    if (!(raw[2] >= 0 && raw[3] >= 0)) continue; // a negative (or NaN) size, as the server drops
    const xc = (raw[0] / options.x_scale) * aw + ax;
    const yc = (raw[1] / options.y_scale) * ah + ay;
    const halfW = ((raw[2] / options.w_scale) * aw) / 2;
    const halfH = ((raw[3] / options.h_scale) * ah) / 2;
    const keypoints = [];
    for (let k = 0; k < options.num_keypoints; k++) {
      keypoints.push([
        (raw[4 + 2 * k] / options.x_scale) * aw + ax,
        (raw[5 + 2 * k] / options.y_scale) * ah + ay,
      ]);
    }
    out.push({ score, box: [xc - halfW, yc - halfH, xc + halfW, yc + halfH], keypoints });
  }
  return out;
}

export function iou(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Each kept face is the score-weighted mean of the candidates overlapping the best one. */
export function weightedNms(candidates, threshold, maxCount = Infinity) {
  let remaining = candidates.map((c, i) => i).sort((a, b) => candidates[b].score - candidates[a].score || a - b);
  const kept = [];
  while (remaining.length && kept.length < maxCount) {
    const best = candidates[remaining[0]];
    const group = [];
    const rest = [];
    for (const i of remaining) (iou(best.box, candidates[i].box) > threshold ? group : rest).push(i);
    if (group.length === 0) {
      group.push(remaining[0]); // a zero-area box overlaps nothing, not even itself
      rest.splice(rest.indexOf(remaining[0]), 1);
    }
    remaining = rest;
    let members = group;
    let weight = (c) => c.score;
    let total = group.reduce((sum, i) => sum + candidates[i].score, 0);
    if (total <= 0) {
      // scores that underflowed to 0 (minScore 0): the best one alone, unweighted, as the server
      members = group.slice(0, 1);
      weight = () => 1;
      total = 1;
    }
    const box = [0, 0, 0, 0];
    const keypoints = best.keypoints.map(() => [0, 0]);
    for (const i of members) {
      const c = candidates[i];
      const w = weight(c);
      c.box.forEach((v, j) => (box[j] += v * w));
      c.keypoints.forEach(([x, y], j) => {
        keypoints[j][0] += x * w;
        keypoints[j][1] += y * w;
      });
    }
    kept.push({
      score: best.score,
      box: box.map((v) => v / total),
      keypoints: keypoints.map(([x, y]) => [x / total, y / total]),
    });
  }
  return kept;
}

/** Input fractions -> picture pixels, in the API's response shape. */
export function project(detections, letterbox, width, height, keypointNames) {
  const ux = (x) => ((x - letterbox.left) / letterbox.width) * width;
  const uy = (y) => ((y - letterbox.top) / letterbox.height) * height;
  const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
  return detections.map(({ score, box, keypoints }) => {
    const x_min = clamp(ux(box[0]), width);
    const x_max = clamp(ux(box[2]), width);
    const y_min = clamp(uy(box[1]), height);
    const y_max = clamp(uy(box[3]), height);
    return {
      score,
      box: { x_min, y_min, x_max, y_max, width: x_max - x_min, height: y_max - y_min },
      keypoints: keypoints.map(([x, y], j) => ({ name: keypointNames[j], x: ux(x), y: uy(y) })),
    };
  });
}

/** outputs: {name: {dims, data}} from the engine; the heads are told apart by their last dimension. */
export function detectFaces(outputs, spec, letterbox, width, height, overrides = {}) {
  const decoder = spec.decoder;
  const heads = Object.values(outputs);
  const boxes = heads.find((o) => o.dims[o.dims.length - 1] === decoder.num_coords);
  const scores = heads.find((o) => o.dims[o.dims.length - 1] === 1);
  const candidates = decode(
    boxes.data,
    scores.data,
    anchorsFor(spec.anchors),
    decoder,
    overrides.minScore ?? decoder.min_score_thresh,
  );
  const kept = weightedNms(candidates, overrides.iouThreshold ?? decoder.min_suppression_threshold, overrides.maxFaces);
  return project(kept, letterbox, width, height, decoder.keypoint_names);
}
