// `npm run build` (make web): copy the page and the onnxruntime-web files it loads into dist/, which
// the service serves at /web/. Plain ES modules, no bundler; nothing is fetched from a CDN.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ortDir = join(here, 'node_modules', 'onnxruntime-web');
const out = join(here, 'dist');

// ort.min.js is the build with the wasm (and WebGL) backends that picks one of these four binaries
// from env.wasm.simd and env.wasm.numThreads; 1.18 is the last release that ships the non-SIMD ones.
const VENDOR = [
  'ort.min.js',
  'ort-wasm.wasm',
  'ort-wasm-threaded.wasm',
  'ort-wasm-simd.wasm',
  'ort-wasm-simd-threaded.wasm',
];

rmSync(out, { recursive: true, force: true });
cpSync(join(here, 'src'), out, { recursive: true });
mkdirSync(join(out, 'vendor'), { recursive: true });
for (const file of VENDOR) cpSync(join(ortDir, 'dist', file), join(out, 'vendor', file));

const ortVersion = JSON.parse(readFileSync(join(ortDir, 'package.json'), 'utf8')).version;
writeFileSync(join(out, 'build.json'), JSON.stringify({ onnxruntimeWeb: ortVersion, vendor: VENDOR }, null, 2));
console.log(`web/dist: page + onnxruntime-web ${ortVersion} (${VENDOR.length} files)`);
