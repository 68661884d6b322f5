/** The adapter registry: valid adapters load by folder name; bad ones are reported and skipped. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { isValidAdapterName, loadRegistry } from '../../src/serve/registry.ts';
import { writePeftPromptTuning } from '../adapter/helpers.ts';
import { STORIES } from '../helpers/paths.ts';

describe('adapter names', () => {
  test('valid and invalid names', () => {
    for (const ok of ['sst2', 'story_gender', 'a', 'A.b-c_d', '0abc', 'x'.repeat(64), 'v1.2']) assert.ok(isValidAdapterName(ok), ok);
    for (const bad of ['', '.hidden', '-dash', '_under', 'x'.repeat(65), 'has space', 'a/b', 'a\\b', '..', 'a..b', 'é', 'a:b', 'a\u0000b', 'ab\n']) {
      assert.ok(!isValidAdapterName(bad), JSON.stringify(bad));
    }
  });
});

describe('loadRegistry', () => {
  let root: string;
  const model = loadModelDir(STORIES);
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'softprompt-registry-'));
    const mk = (name: string): string => {
      const d = join(root, name);
      mkdirSync(d);
      return d;
    };
    writePeftPromptTuning(mk('story_gender'), 4);
    writePeftPromptTuning(mk('sst2.v2'), 8);
    writePeftPromptTuning(mk('has space'), 4); // valid adapter, invalid name
    writePeftPromptTuning(mk('-dash'), 4);
    writePeftPromptTuning(mk('x'.repeat(65)), 4);
    writePeftPromptTuning(mk('stories260K'), 4); // the base model's name
    writePeftPromptTuning(mk('wrong_dim'), 4, (c) => (c['token_dim'] = 32));
    writeFileSync(join(mk('corrupt'), 'adapter_config.json'), '{"peft_type": "PROMPT_TUNING", ');
    writePeftPromptTuning(mk('lora'), 4, (c) => (c['peft_type'] = 'LORA'));
    writeFileSync(join(mk('no_weights'), 'adapter_config.json'), JSON.stringify({ peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 4 }));
    mk('empty');
    writePeftPromptTuning(mk('.hidden'), 4); // ignored silently
    writeFileSync(join(root, 'README.md'), 'not an adapter'); // ignored silently
    symlinkSync(join(root, 'story_gender'), join(root, 'linked')); // a symlink to an adapter folder is an adapter
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('loads the good adapters by folder name, skips each bad one with a warning saying why', () => {
    const warnings: string[] = [];
    const reg = loadRegistry(root, { config: model.config, weights: model.weights }, { onWarning: (m) => warnings.push(m), reserved: ['stories260K'] });
    assert.deepEqual([...reg.adapters.keys()], ['linked', 'sst2.v2', 'story_gender']);
    assert.equal(reg.adapters.get('sst2.v2')!.adapter.method.numVirtualTokens, 8);
    assert.equal(reg.adapters.get('story_gender')!.dir, join(root, 'story_gender'));
    assert.deepEqual(reg.dirs(), { linked: join(root, 'linked'), 'sst2.v2': join(root, 'sst2.v2'), story_gender: join(root, 'story_gender') });

    const why = Object.fromEntries(reg.skipped.map((s) => [s.name, s.reason]));
    assert.deepEqual(Object.keys(why).sort(), ['-dash', 'corrupt', 'empty', 'has space', 'lora', 'no_weights', 'stories260K', 'wrong_dim', 'x'.repeat(65)].sort());
    assert.match(why['has space']!, /invalid name/);
    assert.match(why['-dash']!, /invalid name/);
    assert.match(why['x'.repeat(65)]!, /64 characters at most/);
    assert.match(why['stories260K']!, /base model's/);
    assert.match(why['wrong_dim']!, /token_dim.*is 32/);
    assert.match(why['corrupt']!, /not valid JSON/);
    assert.match(why['lora']!, /LORA/);
    assert.match(why['no_weights']!, /adapter_model\.safetensors/);
    assert.match(why['empty']!, /no adapter_config\.json/);
    // One warning per skipped adapter, naming it and its folder.
    for (const s of reg.skipped) assert.ok(warnings.some((w) => w.includes(`adapter "${s.name}"`) && w.includes(s.dir) && w.includes('skipped')), s.name);
    assert.ok(!warnings.some((w) => w.includes('.hidden') || w.includes('README')));
  });

  test('a missing folder is an error naming it', () => {
    assert.throws(() => loadRegistry(join(root, 'nope'), { config: model.config }), /--adapters .*nope: no such folder/);
    assert.throws(() => loadRegistry(join(root, 'README.md'), { config: model.config }), /this is a file/);
  });
});
