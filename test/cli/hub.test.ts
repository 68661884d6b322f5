/**
 * Models by hub id: only the files softprompt loads are fetched, into one snapshot folder that then
 * loads like any model folder; repositories it cannot use are refused naming what is missing. A fake
 * HubClient serves a repository from local files (tests never download).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { downloadModel } from '../../src/pretrained/hub.ts';
import type { HubClient } from '../../src/pretrained/hub.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.ts';
import { STORIES } from '../helpers/paths.ts';

/** A repository as a map path → source file; downloads copy into one snapshot folder and are logged. */
function fakeHub(root: string, repo: Record<string, string>): HubClient & { fetched: string[] } {
  const snapshot = join(root, 'snapshots', 'abc123');
  const fetched: string[] = [];
  return {
    fetched,
    listFiles: async () => Object.keys(repo),
    async downloadFile(_repo, _type, path) {
      if (!(path in repo)) throw new Error(`404 ${path}`);
      fetched.push(path);
      const to = join(snapshot, path);
      mkdirSync(join(to, '..'), { recursive: true });
      copyFileSync(repo[path]!, to);
      return to;
    },
    snapshot: async () => {
      throw new Error('a model is never fetched whole');
    },
  };
}

describe('downloadModel', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'softprompt-hub-'))));
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  const base = (): Record<string, string> => ({
    'config.json': join(STORIES, 'config.json'),
    'tokenizer.json': join(STORIES, 'tokenizer.json'),
    'tokenizer_config.json': join(STORIES, 'tokenizer_config.json'),
    'README.md': join(STORIES, 'config.json'),
    'pytorch_model.bin': join(STORIES, 'model.safetensors'),
    'onnx/model.onnx': join(STORIES, 'model.safetensors'),
  });

  test('fetches config, tokenizer files and model.safetensors only, and the folder loads', async () => {
    const hub = fakeHub(join(tmp, 'single'), { ...base(), 'model.safetensors': join(STORIES, 'model.safetensors') });
    const dir = await downloadModel('owner/stories', hub);
    assert.deepEqual(hub.fetched.sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const m = loadModelDir(dir);
    assert.equal(m.config.modelType, 'llama');
    assert.equal(m.config.vocabSize, 512);
  });

  test('a sharded checkpoint: the index and every shard it names', async () => {
    const src = join(tmp, 'shards-src');
    mkdirSync(src, { recursive: true });
    const all = readSafetensors(join(STORIES, 'model.safetensors'));
    const names = [...all.keys()].sort();
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    [names.slice(0, half), names.slice(half)].forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(src, file), new Map(part.map((n) => [n, all.get(n)!])), { format: 'pt' });
      for (const n of part) weightMap[n] = file;
    });
    writeFileSync(join(src, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const repo = {
      ...base(),
      'model.safetensors.index.json': join(src, 'model.safetensors.index.json'),
      'model-00001-of-00002.safetensors': join(src, 'model-00001-of-00002.safetensors'),
      'model-00002-of-00002.safetensors': join(src, 'model-00002-of-00002.safetensors'),
    };
    const hub = fakeHub(join(tmp, 'sharded'), repo);
    const dir = await downloadModel('owner/sharded', hub);
    assert.ok(hub.fetched.includes('model-00001-of-00002.safetensors') && hub.fetched.includes('model-00002-of-00002.safetensors'));
    assert.ok(!hub.fetched.includes('pytorch_model.bin') && !hub.fetched.includes('onnx/model.onnx'));
    assert.equal(loadModelDir(dir).config.numLayers, 5);
  });

  test('repositories softprompt cannot load are refused naming what is missing', async () => {
    const noWeights = fakeHub(join(tmp, 'x1'), base());
    await assert.rejects(downloadModel('owner/bin-only', noWeights), /owner\/bin-only has no model\.safetensors or model\.safetensors\.index\.json \(only pytorch_model\.bin, onnx\/model\.onnx\)/);
    const { 'tokenizer.json': _t, ...noTokenizer } = base();
    await assert.rejects(downloadModel('owner/slow-tok', fakeHub(join(tmp, 'x2'), noTokenizer)), /owner\/slow-tok has no tokenizer\.json at its top level/);
    assert.equal(noWeights.fetched.length, 0, 'nothing is fetched from a repository without safetensors weights');
  });
});
