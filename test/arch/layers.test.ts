/**
 * The layer order of docs/architecture.md: a module imports only from its own layer or below,
 * and nothing outside src/cli/ imports from src/cli/. Walks every import (static and dynamic)
 * of every file under src/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Bottom to top; a top-level file or folder of src/ → its layer. */
export const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'tensor.ts', 'host.ts', 'host_node.ts'],
  ['formats', 'graph', 'tokenizer'],
  ['runtime', 'models', 'data', 'pretrained'],
  ['methods'],
  ['adapter', 'eval'],
  ['train', 'infer', 'inspect', 'library', 'report', 'check'],
  ['serve', 'web'],
  ['index.ts'],
  ['cli'],
];

function layerOf(file: string): { unit: string; layer: number } {
  const unit = relative(SRC, file).split(/[\\/]/)[0]!;
  const layer = LAYERS.findIndex((l) => l.includes(unit));
  return { unit, layer };
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

/** Relative specifiers imported by `text`: `from '…'`, `import '…'` and `import('…')`. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]!);
  return out;
}

/** Every upward import and every import of src/cli/ from outside it, as lines. */
export function violations(root = SRC): string[] {
  const bad: string[] = [];
  for (const file of walk(root)) {
    const from = layerOf(file);
    if (from.layer < 0) {
      bad.push(`${relative(root, file)}: ${from.unit} has no layer (add it to LAYERS and docs/architecture.md)`);
      continue;
    }
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(root)) continue;
      const to = layerOf(target);
      if (to.unit === 'cli' && from.unit !== 'cli') bad.push(`${relative(root, file)} imports src/cli/ (${spec})`);
      else if (to.layer > from.layer) bad.push(`${relative(root, file)} (${from.unit}, layer ${from.layer + 1}) imports ${spec} (${to.unit}, layer ${to.layer + 1})`);
    }
  }
  return bad;
}

test('no module imports from a layer above its own, and only src/cli/ imports src/cli/', () => {
  assert.deepEqual(violations(), []);
});

test('the import walk sees static, type-only and dynamic imports', () => {
  const text = `import { a } from './a.ts';\nimport type { B } from '../b/b.ts';\nconst c = await import('../c.ts');\nimport './d.ts';\nimport x from 'node:fs';`;
  assert.deepEqual(importsOf(text), ['./a.ts', '../b/b.ts', '../c.ts', './d.ts']);
});
