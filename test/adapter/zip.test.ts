/**
 * An adapter as one .zip (the browser demo's download, written by adapterZip, the worker's code
 * path): `softprompt eval --adapter x.zip` and `inspect` give exactly what the folder gives, a
 * zipped folder loads too, and a bad archive is one FormatError naming the .zip (and the file in it).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { zipSync } from 'fflate';
import { adapterZip, ADAPTER_ZIP_FILES } from '../../src/adapter/archive.ts';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import { FormatError } from '../../src/errors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { initParams } from '../../src/methods/init.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { assertThrowsWith, tempDir } from '../formats/helpers.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const DATA = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
let model: ModelDir;
before(() => {
  model = loadModelDir(STORIES);
});
const quiet = { onWarning: () => {} };

/** A prompt-tuning adapter folder (random init, with the template and verbalizer in softprompt.json) and its .zip. */
function adapterAndZip(dir: string): { folder: string; zip: string; files: Record<string, Uint8Array> } {
  const folder = join(dir, 'adapter');
  const method = promptTuning(model.config, { numVirtualTokens: 8 });
  saveAdapter(folder, {
    method, trainable: initParams(model.config, method, { seed: 3 }), config: model.config, fingerprint: fingerprintModel(model),
    meta: { template: { source: '{text}\nThe story is about a' }, verbalizer: { girl: ' girl', boy: ' boy' }, label_field: 'label' },
  });
  const files = Object.fromEntries(ADAPTER_ZIP_FILES.map((f) => [f, new Uint8Array(readFileSync(join(folder, f)))]));
  const zip = join(dir, 'story-gender-adapter.zip');
  writeFileSync(zip, adapterZip(files));
  return { folder, zip, files };
}

test('eval and inspect take the .zip and give what the folder gives', async (t) => {
  const { folder, zip } = adapterAndZip(tempDir(t, 'softprompt-zip-'));
  const a = loadAdapter(folder, model, quiet);
  const z = loadAdapter(zip, model, quiet);
  assert.equal(z.dir, zip);
  assert.equal(z.peftType, a.peftType);
  assert.deepEqual(z.meta, a.meta);
  assert.deepEqual(z.params['prompt_embeddings']!.data, a.params['prompt_embeddings']!.data);

  const evalOf = (adapter: string) => cli(['eval', '--model', STORIES, '--adapter', adapter, '--data', DATA, '--json']).then(lastJson);
  const inspectOf = (adapter: string) => cli(['inspect', adapter, '--model', STORIES, '--json']).then(lastJson);
  const [ef, ez, inf, inz] = await Promise.all([evalOf(folder), evalOf(zip), inspectOf(folder), inspectOf(zip)]);
  assert.equal(ez['n'], 400);
  assert.deepEqual({ ...ez, adapter: null }, { ...ef, adapter: null });
  assert.equal(ez['adapter'], zip);
  assert.deepEqual({ ...inz, adapter: null, source: null }, { ...inf, adapter: null, source: null });
});

test('a zipped adapter folder (one top-level folder) loads; extra files are ignored', (t) => {
  const dir = tempDir(t, 'softprompt-zip-');
  const { folder, files } = adapterAndZip(dir);
  const nested = join(dir, 'nested.zip');
  writeFileSync(nested, zipSync({ 'my-adapter/': new Uint8Array(0), ...Object.fromEntries(Object.entries(files).map(([k, v]) => [`my-adapter/${k}`, v])), 'my-adapter/README.md': new Uint8Array([65]) }));
  assert.deepEqual(loadAdapter(nested, model, quiet).params['prompt_embeddings']!.data, loadAdapter(folder, model, quiet).params['prompt_embeddings']!.data);
});

test('a bad archive is one FormatError naming the .zip and what is wrong', (t) => {
  const dir = tempDir(t, 'softprompt-zip-');
  const { zip, files } = adapterAndZip(dir);
  const bytes = readFileSync(zip);
  const write = (name: string, b: Uint8Array): string => (writeFileSync(join(dir, name), b), join(dir, name));
  assertThrowsWith(() => loadAdapter(write('cut.zip', bytes.subarray(0, bytes.length - 100)), model, quiet), FormatError, ['cut.zip', 'is not a readable .zip archive']);
  assertThrowsWith(() => loadAdapter(write('other.zip', zipSync({ 'notes.txt': new Uint8Array([1]) })), model, quiet), FormatError, ['other.zip', 'is not an adapter archive', 'notes.txt']);
  const noWeights = write('noweights.zip', zipSync({ 'adapter_config.json': files['adapter_config.json']! }));
  assertThrowsWith(() => loadAdapter(noWeights, model, quiet), FormatError, [`${noWeights}:adapter_model.safetensors`, 'not found']);
  const badJson = write('badjson.zip', zipSync({ ...files, 'adapter_config.json': new TextEncoder().encode('{"peft_type": ') }));
  assertThrowsWith(() => loadAdapter(badJson, model, quiet), FormatError, [`${badJson}:adapter_config.json`, 'is not valid JSON']);
  mkdirSync(join(dir, 'sub'));
  assertThrowsWith(() => loadAdapter(write('sub/weights.bin', new Uint8Array([1, 2, 3])), model, quiet), FormatError, ['weights.bin', 'this is a file']);
});
