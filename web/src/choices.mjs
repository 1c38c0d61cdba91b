// The page's model choices ({value, label} for a <select>), from the one manifest (GET /v1/manifest)
// the server reads too: a model or precision the manifest adds or drops is offered, or no longer, by
// the page without an edit to its HTML.

// [name, spec] of each model of `task`, in the manifest's order (the file as served has no names
// inside the entries: a model's name is its key)
const modelsOf = (manifest, task) => Object.entries(manifest.models).filter(([, spec]) => spec.task === task);

/** The name of the classification model the page runs: the first the manifest lists. */
export function classifierOf(manifest) {
  return modelsOf(manifest, 'classification')[0]?.[0];
}

/** The detectors, in the manifest's order (the first is the default): value the name, shown as its
 * alias (the API's `model=` word) and its input size, e.g. "short (128)". */
export function detectorChoices(manifest) {
  return modelsOf(manifest, 'detection').map(([name, spec]) => ({
    value: name,
    label: `${spec.alias ?? name} (${spec.input.width})`,
  }));
}

/** The classifier's precisions, in the manifest's order (the first is the default). */
export function precisionChoices(manifest) {
  const precisions = manifest.models[classifierOf(manifest)]?.precisions ?? [];
  return precisions.map((precision) => ({ value: precision, label: precision }));
}
