// `npm run build` (make web): copy the page, the onnxruntime-web files it loads and Swagger UI (the
// service's /docs) into dist/, which the service serves at /web/. Plain ES modules, no bundler; nothing
// is fetched from a CDN.
// Every file worth it gets brotli (.br) and gzip (.gz) copies, which the service sends by the request's
// Accept-Encoding (service/api/precompressed.py): the 10.7 MB wasm goes out as ~1.8 MB.
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const ortDir = join(here, 'node_modules', 'onnxruntime-web');
const swaggerDir = join(here, 'node_modules', 'swagger-ui-dist');
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

// FastAPI's /docs loads Swagger UI from a CDN, which an offline or locked-down network never reaches;
// the service serves these instead (service/api/routes/docs.py).
const SWAGGER_UI = ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE'];
mkdirSync(join(out, 'vendor', 'swagger-ui'), { recursive: true });
for (const file of SWAGGER_UI) cpSync(join(swaggerDir, file), join(out, 'vendor', 'swagger-ui', file));

// Brotli's best quality takes ~20 s per wasm binary; the copies are kept by content hash, so only a
// new onnxruntime-web pays that again. MVA_WEB_CACHE names the folder they are kept in (relative: to web/,
// wherever node runs), for a node_modules that is read-only or shared; by default it is in
// node_modules.
const COMPRESSIBLE = /\.(wasm|js|mjs|html|css|svg|json)$/;
const MIN_BYTES = 1024; // below this, the header saved is the gain
const cacheDir = process.env.MVA_WEB_CACHE
  ? resolve(here, process.env.MVA_WEB_CACHE)
  : join(here, 'node_modules', '.cache', 'precompressed');
const brotli = promisify(brotliCompress);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const gzipAsync = promisify(gzip);

async function cached(key, make) {
  const file = join(cacheDir, key);
  if (existsSync(file)) return readFileSync(file);
  const data = await make();
  mkdirSync(cacheDir, { recursive: true });
  // written whole or not at all: an interrupted build must not leave a truncated copy to be served later
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
  return data;
}

async function precompress(file) {
  const data = readFileSync(file);
  const digest = sha256(data);
  const [br, gz] = await Promise.all([
    cached(`${digest}.br`, () =>
      brotli(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      }),
    ),
    cached(`${digest}.gz`, () => gzipAsync(data, { level: 9 })),
  ]);
  // a copy that is not smaller is not sent
  if (br.length < data.length) writeFileSync(`${file}.br`, br);
  if (gz.length < data.length) writeFileSync(`${file}.gz`, gz);
  return { file, bytes: data.length, br: br.length, gzip: gz.length };
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

const compressed = await Promise.all(
  filesUnder(out)
    .filter((path) => COMPRESSIBLE.test(path) && statSync(path).size >= MIN_BYTES)
    .map(precompress),
);
const total = (key) => compressed.reduce((sum, c) => sum + c[key], 0);

// What dist/ is built from, as docker/web-sources.sh computes it: the Dockerfile's web stage uses a dist/
// built on the host only when this matches its sources
function sourcesDigest() {
  const paths = readdirSync(join(here, 'src'), { recursive: true })
    .map((name) => join('src', name))
    .filter((path) => statSync(join(here, path)).isFile())
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const lines = [...paths, 'package-lock.json', 'build.mjs'].map(
    (path) => `${sha256(readFileSync(join(here, path)))}  ${path}\n`,
  );
  return sha256(lines.join(''));
}

const versionOf = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
const ortVersion = versionOf(ortDir);
const swaggerVersion = versionOf(swaggerDir);
writeFileSync(
  join(out, 'build.json'),
  JSON.stringify(
    {
      onnxruntimeWeb: ortVersion,
      vendor: VENDOR,
      swaggerUi: swaggerVersion,
      swaggerUiFiles: SWAGGER_UI,
      sources: sourcesDigest(),
    },
    null,
    2,
  ),
);
console.log(`web/dist: page + onnxruntime-web ${ortVersion} (${VENDOR.length} files) + swagger-ui ${swaggerVersion}`);
console.log(
  `web/dist: ${compressed.length} files precompressed: ${(total('bytes') / 1e6).toFixed(1)} MB -> ` +
    `${(total('br') / 1e6).toFixed(1)} MB brotli, ${(total('gzip') / 1e6).toFixed(1)} MB gzip`,
);
