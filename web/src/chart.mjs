// Benchmark chart as inline SVG (no library): one bar per configuration, median total latency split
// into inference and everything else, with the p90 as a whisker.
const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawChart(svg, rows) {
  svg.replaceChildren();
  const labelW = 290;
  const barW = 420;
  const rowH = 26;
  const top = 24;
  const height = top + rows.length * rowH + 30;
  svg.setAttribute('viewBox', `0 0 ${labelW + barW + 90} ${height}`);
  svg.setAttribute('height', String(height));
  const max = Math.max(1, ...rows.map((r) => r.p90Ms));
  const x = (ms) => labelW + (ms / max) * barW;
  svg.append(el('text', { x: labelW, y: 14, class: 'legend' }, 'median ms: inference (dark) + rest (light); line: p90'));
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    svg.append(el('text', { x: labelW - 8, y: y + 16, 'text-anchor': 'end', class: 'label' }, row.label));
    const side = row.side === 'server' ? 'server' : 'browser';
    svg.append(el('rect', { x: labelW, y: y + 4, width: x(row.medianMs) - labelW, height: 16, class: `bar ${side} rest` }));
    svg.append(el('rect', { x: labelW, y: y + 4, width: x(row.inferenceMs) - labelW, height: 16, class: `bar ${side}` }));
    svg.append(el('line', { x1: x(row.medianMs), x2: x(row.p90Ms), y1: y + 12, y2: y + 12, class: 'whisker' }));
    svg.append(el('text', { x: x(row.p90Ms) + 6, y: y + 16, class: 'value' }, `${row.medianMs.toFixed(1)} ms`));
  });
}
