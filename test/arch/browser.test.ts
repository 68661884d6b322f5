/**
 * The browser-safe core: esbuild --platform=browser bundles it with no Node built-in and no
 * onnxruntime-node (npm packages stay external: the app's bundler resolves them). Node-only
 * pieces (file readers, the ORT-node backend, atomic writes) are outside this list; see
 * docs/architecture.md for the seam and what is still to move behind it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Every module of the browser-safe core, by folder. */
export const BROWSER_CORE: readonly string[] = [
  'errors.ts', 'tensor.ts',
  'graph/index.ts', 'graph/protobuf.ts', 'graph/onnx.ts', 'graph/autodiff.ts',
  'formats/half.ts', 'formats/hf_config.ts', 'formats/gpt_config.ts', 'formats/decoder_config.ts', 'formats/safetensors_codec.ts', 'formats/weight_store.ts',
  'runtime/backend.ts', 'runtime/web_backend.ts', 'runtime/session.ts',
  'models/registry.ts', 'models/gpt2.ts', 'models/decoder.ts', 'models/rope.ts', 'models/rope_scaling.ts', 'models/norms.ts', 'models/attention.ts', 'models/gpt_neox.ts', 'models/opt.ts', 'models/bloom.ts',
  'models/alibi.ts', 'models/common.ts', 'models/fused_qkv.ts', 'models/types.ts',
  'data/template.ts', 'data/verbalizer.ts', 'data/encode.ts', 'data/collate.ts', 'data/demos.ts', 'data/split.ts', 'data/task_prompts.ts', 'data/token_batch.ts', 'data/rng.ts', 'data/errors.ts', 'data/verbalizer_check.ts',
  'methods/factory.ts', 'methods/batch.ts', 'methods/program.ts', 'methods/init.ts', 'methods/loss.ts', 'methods/multitask.ts',
  'methods/prompt_tuning.ts', 'methods/p_tuning.ts', 'methods/prefix_tuning.ts', 'methods/lstm.ts', 'methods/types.ts',
  'adapter/types.ts', 'adapter/meta.ts', 'adapter/peft_config.ts', 'adapter/encoder.ts', 'adapter/bytes.ts', 'adapter/prompt.ts', 'adapter/name.ts',
  'adapter/archive.ts', 'adapter/errors.ts', 'adapter/finite.ts',
  'eval/metrics.ts', 'eval/rank.ts', 'eval/score.ts', 'eval/index.ts',
  'infer/graphs.ts', 'infer/kv.ts', 'infer/sampling.ts', 'infer/text.ts', 'infer/types.ts', 'infer/errors.ts', 'infer/generator.ts', 'infer/logprobs.ts',
  'inspect/inspect.ts', 'inspect/compare.ts', 'inspect/vocab.ts', 'inspect/discretize.ts', 'inspect/errors.ts', 'inspect/format.ts', 'inspect/init_ref.ts', 'inspect/table.ts', 'inspect/vectors.ts',
  'train/adamw.ts', 'train/schedule.ts', 'train/defaults.ts', 'train/events.ts',
  // The page's side of softprompt/web (the worker still runs the Node-shaped core on shims).
  'web/client.ts', 'web/protocol.ts',
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

test('the check sees a Node-only module (atomic writes, the ORT-node backend)', async () => {
  const found = await nodeImports(['formats/atomic.ts', 'runtime/ort_backend.ts']);
  assert.ok(found.some((f) => f.startsWith('node:fs')), found.join(', '));
  assert.ok(found.some((f) => f.startsWith('onnxruntime-node')), found.join(', '));
});
