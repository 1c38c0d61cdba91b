// The benchmark's iteration count from its number input. A browser lets any number be typed there
// whatever the input's min and max say (500, -3, 0, 2.5): the count is held to min..max as a whole
// number, and a field with no number at all (empty) gives the input's default.
export function iterationsFrom(text, { min, max, fallback }) {
  const typed = Number(text);
  if (String(text).trim() === '' || !Number.isFinite(typed)) return fallback;
  return Math.min(max, Math.max(min, Math.round(typed)));
}
