/**
 * The browser-safe core: esbuild --platform=browser bundles it with no Node built-in and no
 * onnxruntime-node (npm packages stay external: the app's bundler resolves them). The core reaches
 * files, paths and hashing only through host.ts, whose implementation the entry point installs
 * (host_node.ts on Node, web/host/ in the browser); see docs/architecture.md.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** The folders of the browser-safe core: every module in them bundles for the browser. */
const CORE_FOLDERS = ['graph', 'formats', 'tokenizer', 'runtime', 'models', 'data', 'pretrained', 'methods', 'adapter', 'eval', 'train', 'infer', 'inspect'];
/** The Node-only pieces, chosen by Node entry points: the ORT-node backend (session.ts loads it lazily when no backend was set). */
const NODE_ONLY_MODULES = new Set(['runtime/ort_backend.ts']);

/** Every module of the browser-safe core. */
export const BROWSER_CORE: readonly string[] = [
  'errors.ts', 'tensor.ts', 'host.ts',
  ...CORE_FOLDERS.flatMap((d) => readdirSync(join(SRC, d)).filter((f) => f.endsWith('.ts')).map((f) => `${d}/${f}`)).filter((m) => !NODE_ONLY_MODULES.has(m)),
  // The page's side of softprompt/web, and the worker (which installs the memory host).
  'web/client.ts', 'web/protocol.ts', 'web/worker.ts', 'web/host/index.ts',
];

const NODE_ONLY = /^(node:|(fs|path|os|crypto|url|readline|child_process|stream|worker_threads)(\/.*)?$|onnxruntime-node$)/;

/** Fails the build on a Node built-in or onnxruntime-node; leaves other packages external. */
const browserOnly = (found: string[]): Plugin => ({
  name: 'browser-only',
  setup(b) {
    // A dynamic import() is not a module-level import: it loads only when called (session.ts loads
    // the ORT-node backend that way, after a browser build has set its own).
    b.onResolve({ filter: /.*/ }, (a) => (a.kind === 'dynamic-import' ? { path: a.path, external: true } : undefined));
    b.onResolve({ filter: NODE_ONLY }, (a) => {
      found.push(`${a.path} (from ${a.importer.slice(SRC.length + 1)})`);
      return { path: a.path, external: true };
    });
    b.onResolve({ filter: /^[^./]/ }, (a) => ({ path: a.path, external: true }));
  },
});

async function nodeImports(entries: readonly string[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'softprompt-browser-'));
  try {
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, entries.map((m, i) => `export * as m${i} from ${JSON.stringify(join(SRC, m))};`).join('\n'));
    const found: string[] = [];
    await build({ entryPoints: [entry], bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', plugins: [browserOnly(found)] });
    return [...new Set(found)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('esbuild --platform=browser bundles the browser-safe core with no Node built-ins', async () => {
  assert.deepEqual(await nodeImports(BROWSER_CORE), []);
});

test('the check sees a Node-only module (the Node host, the ORT-node backend)', async () => {
  const found = await nodeImports(['host_node.ts', 'runtime/ort_backend.ts']);
  assert.ok(found.some((f) => f.startsWith('node:fs')), found.join(', '));
  assert.ok(found.some((f) => f.startsWith('onnxruntime-node')), found.join(', '));
});
