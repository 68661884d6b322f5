/** Hardening (issue 16, item 6): an adapter with NaN or Infinity weights is refused at load, naming file and tensor. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { AdapterError } from '../../src/adapter/errors.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { tensor } from '../../src/tensor.ts';
import { tempDir } from '../formats/helpers.ts';
import { STORIES } from '../helpers/paths.ts';
import { peftPromptTuningConfig, values, writePeftAdapter } from './helpers.ts';

let model: ModelDir;
before(() => {
  model = loadModelDir(STORIES);
});

for (const [what, bad] of [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
  test(`prompt_embeddings holding ${what} is refused`, (t) => {
    const dir = tempDir(t, 'softprompt-nan-');
    const data = values(4 * 64, 7);
    data[70] = bad;
    writePeftAdapter(dir, peftPromptTuningConfig(4), { prompt_embeddings: tensor('float32', [4, 64], data) });
    assert.throws(
      () => loadAdapter(dir, model, { onWarning: () => {} }),
      (e: unknown) =>
        e instanceof AdapterError &&
        e.message.startsWith(join(dir, 'adapter_model.safetensors')) &&
        e.message.includes('tensor "prompt_embeddings" holds 1 non-finite value') &&
        e.message.includes('flat index 70') &&
        !e.message.includes('\n'),
    );
  });
}

test('finite weights still load', (t) => {
  const dir = tempDir(t, 'softprompt-nan-');
  writePeftAdapter(dir, peftPromptTuningConfig(4), { prompt_embeddings: tensor('float32', [4, 64], values(4 * 64, 7)) });
  assert.equal(loadAdapter(dir, model, { onWarning: () => {} }).method.numVirtualTokens, 4);
});
