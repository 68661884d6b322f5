/**
 * Bundles softprompt/web with esbuild for the browser: dist/web/softprompt.js (the page's
 * client, the package's `softprompt/web` export) and dist/web/worker.js (the Web Worker). `npm run
 * build` runs it after tsc. onnxruntime-web's .mjs/.wasm (42 MB for the plain and JSEP builds) are
 * not copied: they come from that dependency (the demo server serves them beside the bundle; an app
 * serves them itself and passes wasmPaths), so the package does not ship them twice.
 *
 * Node built-ins that the core still imports at module level are replaced by the shims in
 * src/web/shims/ (an in-memory file system and friends); the build prints which modules pulled
 * each one in, so the list shrinks to nothing as the core becomes browser-safe.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const shims = join(root, 'src', 'web', 'shims');
const SHIM: Record<string, string> = {
  fs: 'fs.ts', 'fs/promises': 'fs.ts', path: 'path.ts', os: 'os.ts', crypto: 'crypto.ts', readline: 'readline.ts',
  child_process: 'unavailable.ts', url: 'unavailable.ts', stream: 'unavailable.ts', events: 'events.ts', process: 'process.ts', 'stream/promises': 'unavailable.ts', 'onnxruntime-node': 'unavailable.ts',
};
const used = new Map<string, Set<string>>();

const nodeShims: esbuild.Plugin = {
  name: 'node-shims',
  setup(b) {
    // Hub downloads are Node-only (the page fetches files itself); hyparquet gains the Node-only name it lacks.
    b.onResolve({ filter: /^@huggingface\/hub$/ }, () => ({ path: join(shims, 'unavailable.ts') }));
    b.onResolve({ filter: /^hyparquet$/ }, (args) => (args.importer === join(shims, 'hyparquet.ts') ? undefined : { path: join(shims, 'hyparquet.ts') }));
    b.onResolve({ filter: /^(node:.*|onnxruntime-node|fs|fs\/promises|path|os|crypto|readline|child_process|url|stream|stream\/promises|events|process)$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const file = SHIM[name];
      if (!file) return { errors: [{ text: `${args.path} (imported by ${args.importer}) has no browser shim` }] };
      const who = used.get(args.path) ?? new Set<string>();
      who.add(args.importer.replace(`${root}/`, ''));
      used.set(args.path, who);
      return { path: join(shims, file) };
    });
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
    plugins: [nodeShims],
    inject: [join(shims, 'process.ts')],
    logLevel: opts.quiet ? 'error' : 'warning',
    metafile: true,
  };
  await esbuild.build({ ...common, entryPoints: { worker: join(root, 'src', 'web', 'worker.ts') }, outdir: out });
  await esbuild.build({ ...common, entryPoints: { softprompt: join(root, 'src', 'web', 'client.ts') }, outdir: out });
  if (!opts.quiet) for (const [m, who] of used) console.log(`shimmed ${m}: ${[...who].sort().join(', ')}`);
  console.log(`built ${out} (${used.size} Node built-ins shimmed${opts.quiet ? '; npm run build:web lists who imports them' : ''})`);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildWeb({ quiet: process.argv.includes('--quiet') });
