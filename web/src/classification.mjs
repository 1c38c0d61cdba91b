// Scores -> top-k labels with the background class left out (service/tasks/classification.py).
export function topK(scores, labels, backgroundIndex, k) {
  const order = [];
  for (let i = 0; i < scores.length; i++) if (i !== backgroundIndex) order.push(i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, k).map((i) => ({ class_id: i, label: labels[i], score: scores[i] }));
}
