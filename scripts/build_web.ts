/**
 * Bundles softprompt/web with esbuild for the browser: dist/web/softprompt.js (the page's
 * client, the package's `softprompt/web` export) and dist/web/worker.js (the Web Worker). `npm run
 * build` runs it after tsc. onnxruntime-web's .mjs/.wasm (42 MB for the plain and JSEP builds) are
 * not copied: they come from that dependency (the demo server serves them beside the bundle; an app
 * serves them itself and passes wasmPaths), so the package does not ship them twice.
 *
 * The worker installs the browser's host (src/web/host/: an in-memory file system, POSIX paths,
 * sha256), and the core reaches files only through it, so no Node built-in enters the bundle.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const shims = join(root, 'src', 'web', 'shims');

/**
 * The core reaches Node's built-ins only through host.ts (the worker installs the memory host), so
 * a built-in in the bundle is a bug: the build fails naming the module that imports it.
 */
const browserOnly: esbuild.Plugin = {
  name: 'browser-only',
  setup(b) {
    // Hub downloads are Node-only (the page fetches files itself).
    b.onResolve({ filter: /^@huggingface\/hub$/ }, () => ({ path: join(shims, 'unavailable.ts') }));
    // The ORT-node backend: session.ts imports it only when no backend was set (the worker sets the web one first).
    b.onResolve({ filter: /ort_backend\.ts$/ }, () => ({ path: join(shims, 'unavailable.ts') }));
    // hyparquet gains the Node-only name it lacks.
    b.onResolve({ filter: /^hyparquet$/ }, (args) => (args.importer === join(shims, 'hyparquet.ts') ? undefined : { path: join(shims, 'hyparquet.ts') }));
    b.onResolve({ filter: /^(node:.*|onnxruntime-node|fs|fs\/promises|path|os|crypto|readline|child_process|url|stream|stream\/promises|events|process|worker_threads)$/ }, (args) => ({
      errors: [{ text: `${args.path} (imported by ${args.importer.replace(`${root}/`, '')}): the browser core reaches Node's built-ins only through host.ts` }],
    }));
  },
};

export async function buildWeb(opts: { quiet?: boolean } = {}): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    // The ORT build that loads its .mjs/.wasm from env.wasm.wasmPaths (copied beside the bundle).
    conditions: ['onnxruntime-web-use-extern-wasm'],
    plugins: [browserOnly],
    inject: [join(shims, 'process.ts')],
    logLevel: opts.quiet ? 'error' : 'warning',
    metafile: true,
  };
  await esbuild.build({ ...common, entryPoints: { worker: join(root, 'src', 'web', 'worker.ts') }, outdir: out });
  await esbuild.build({ ...common, entryPoints: { softprompt: join(root, 'src', 'web', 'client.ts') }, outdir: out });
  console.log(`built ${out}`);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildWeb({ quiet: process.argv.includes('--quiet') });
