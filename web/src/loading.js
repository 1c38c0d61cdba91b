// A classic script, run before the page's modules: when one of them does not come (a 404, a proxy's
// error page) none of them runs, and the page would say "loading the manifest…" for good.
'use strict';

// The page's modules that did not come, by the status the browser kept for each.
function failedModules() {
  return performance
    .getEntriesByType('resource')
    .filter((e) => e.name.endsWith('.mjs') && e.responseStatus >= 400)
    .map((e) => `${e.name.split('/').pop()}: HTTP ${e.responseStatus}`);
}

function sayNotLoaded() {
  const failed = failedModules();
  document.getElementById('status').textContent =
    `error: the page's scripts did not load (${failed.length ? failed.join(', ') : 'see the console'}): reload, or rebuild the page (make web)`;
  document.body.dataset.state = 'error';
}

// a module script whose file, or one it imports, failed to load fires `error` at its element (which
// does not bubble: caught on the way down)
window.addEventListener(
  'error',
  (event) => {
    const script = event.target;
    if (!(script instanceof HTMLScriptElement) || script.type !== 'module') return;
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', sayNotLoaded);
    else sayNotLoaded();
  },
  true,
);
