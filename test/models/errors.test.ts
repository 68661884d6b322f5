/** Bad model folders fail while building, with typed errors naming the file and the problem. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissingTensorError, ShapeMismatchError, UnsupportedModelError } from '../../src/errors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.ts';
import { Graph } from '../../src/graph/graph.ts';
import { buildModel, getModelBuilder } from '../../src/models/registry.ts';
import { GOLDEN } from '../helpers/paths.ts';

function withCopy(name: string, edit: (dir: string) => void, check: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'softprompt-bad-'));
  try {
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(GOLDEN, name, f), join(dir, f));
    edit(dir);
    check(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function editConfig(dir: string, patch: Record<string, unknown>): void {
  const p = join(dir, 'config.json');
  writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), ...patch }));
}

test('a tensor whose shape disagrees with config.json names the tensor and both shapes', () =>
  withCopy('tiny-gpt2', (d) => editConfig(d, { n_embd: 128, n_head: 8 }), (dir) => {
    const m = loadModelDir(dir);
    assert.throws(() => buildModel(new Graph(), m.config, m.weights), (e: unknown) => {
      assert.ok(e instanceof ShapeMismatchError);
      assert.match(e.message, /model\.safetensors: tensor "transformer\.wte\.weight" has shape \[512, 64\] but the config implies \[512, 128\]/);
      return true;
    });
  }));

test('a missing tensor is named, with the file', () =>
  withCopy('tiny-llama', (d) => {
    const t = readSafetensors(join(d, 'model.safetensors'));
    t.delete('model.layers.1.mlp.up_proj.weight');
    writeSafetensors(join(d, 'model.safetensors'), t);
  }, (dir) => {
    const m = loadModelDir(dir);
    assert.throws(() => buildModel(new Graph(), m.config, m.weights), (e: unknown) => {
      assert.ok(e instanceof MissingTensorError);
      assert.equal(e.tensor, 'model.layers.1.mlp.up_proj.weight');
      assert.ok(e.message.includes(join(dir, 'model.safetensors')));
      return true;
    });
  }));

test('an untied llama without lm_head.weight is a missing tensor, not a silent tie', () =>
  withCopy('tiny-llama', (d) => {
    const t = readSafetensors(join(d, 'model.safetensors'));
    t.delete('lm_head.weight');
    writeSafetensors(join(d, 'model.safetensors'), t);
  }, (dir) => {
    const m = loadModelDir(dir);
    assert.throws(() => buildModel(new Graph(), m.config, m.weights), /missing tensor "lm_head\.weight"/);
  }));

test('an unknown model_type lists the supported ones', () =>
  withCopy('tiny-gpt2', (d) => editConfig(d, { model_type: 'mamba' }), (dir) => {
    assert.throws(() => loadModelDir(dir), (e: unknown) => {
      assert.ok(e instanceof UnsupportedModelError);
      assert.match(e.message, /config\.json: unsupported model_type "mamba"; supported: gpt2, llama/);
      return true;
    });
    assert.throws(() => getModelBuilder('mamba'), UnsupportedModelError);
  }));
