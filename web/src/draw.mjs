// The picture with the faces of both paths drawn on it (browser: solid, server: dashed).
export const COLORS = { browser: '#e8590c', server: '#1c7ed6' };

export function drawScene(canvas, picture, layers) {
  const maxWidth = 720;
  const scale = Math.min(1, maxWidth / picture.width);
  canvas.width = Math.round(picture.width * scale);
  canvas.height = Math.round(picture.height * scale);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(picture.bitmap, 0, 0, canvas.width, canvas.height);
  for (const { side, faces = [], predictions = [] } of layers) {
    ctx.strokeStyle = ctx.fillStyle = COLORS[side];
    ctx.lineWidth = side === 'server' ? 2 : 5; // the browser's wider solid box stays visible under the server's
    ctx.setLineDash(side === 'server' ? [8, 5] : []);
    for (const face of faces) {
      const { x_min, y_min, width, height } = face.box;
      ctx.strokeRect(x_min * scale, y_min * scale, width * scale, height * scale);
      for (const point of face.keypoints) {
        ctx.beginPath();
        ctx.arc(point.x * scale, point.y * scale, side === 'server' ? 5 : 3, 0, 2 * Math.PI);
        side === 'server' ? ctx.stroke() : ctx.fill();
      }
    }
    if (predictions.length) {
      const text = `${side}: ${predictions[0].label} ${(predictions[0].score * 100).toFixed(1)}%`;
      const y = side === 'browser' ? 28 : 58;
      ctx.font = 'bold 18px system-ui, sans-serif';
      ctx.setLineDash([]);
      ctx.fillStyle = 'rgba(255,255,255,0.85)';
      ctx.fillRect(8, y - 20, ctx.measureText(text).width + 12, 28);
      ctx.fillStyle = COLORS[side];
      ctx.fillText(text, 14, y);
    }
  }
  ctx.setLineDash([]);
}
