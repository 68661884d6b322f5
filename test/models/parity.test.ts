/** Same logits from the llama2.c and HF copies of stories260K, and from F16/BF16 checkpoints. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxAbsDiff } from '../../src/check/golden.ts';
import { readLlama2c } from '../../src/formats/llama2c.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from '../../src/formats/half.ts';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.ts';
import { memoryWeightStore } from '../../src/formats/weights.ts';
import type { WeightStore } from '../../src/formats/weights.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { int64, tensor } from '../../src/tensor.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';

async function logits(config: ModelConfig, weights: WeightStore, ids: number[][]): Promise<Float32Array> {
  const program = buildProgram(config, weights, null, { fullLogits: true, loss: false });
  const session = await compileGraph(program.graph);
  const B = ids.length;
  const T = ids[0]!.length;
  const out = await session.run(
    batchFeeds(null, { inputIds: int64([B, T], ids.flat()), attentionMask: int64([B, T], new Array(B * T).fill(1)) }),
    ['logits'],
  );
  await session.release();
  return out['logits']!.data as Float32Array;
}

const IDS = [
  [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426],
  [1, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433],
];

test('llama2.c checkpoint and HF folder of stories260K give the same logits', async () => {
  const hf = loadModelDir(STORIES);
  const l2c = readLlama2c(join(STORIES, 'llama2c', 'stories260K.bin'));
  const a = await logits(hf.config, hf.weights, IDS);
  const b = await logits(l2c.config, l2c.weights, IDS);
  assert.equal(a.length, 2 * 16 * 512);
  // Bit-identical weights, same graph: the logits must agree to float32 round-off at most.
  assert.ok(maxAbsDiff(a, b) <= 1e-6, `max |Δlogit| = ${maxAbsDiff(a, b)}`);
});

for (const [dtype, encode, decode] of [
  ['F16', encodeF16, decodeF16],
  ['BF16', encodeBf16, decodeBf16],
] as const) {
  test(`a ${dtype} copy of tiny-llama loads and computes with exactly the rounded weights`, async () => {
    const src = join(GOLDEN, 'tiny-llama');
    const dir = mkdtempSync(join(tmpdir(), `softprompt-${dtype}-`));
    try {
      const f32 = readSafetensors(join(src, 'model.safetensors'));
      writeSafetensors(join(dir, 'model.safetensors'), f32, { format: 'pt' }, { dtype });
      copyFileSync(join(src, 'config.json'), join(dir, 'config.json'));
      const half = loadModelDir(dir);
      // Oracle: the float32 weights rounded through the same 16-bit format, built in memory.
      const rounded = new Map<string, Tensor>();
      for (const [name, t] of f32) rounded.set(name, tensor('float32', t.shape, decode(encode(t.data as Float32Array))));
      const cfg = loadModelDir(src).config;
      const a = await logits(half.config, half.weights, IDS);
      const b = await logits(cfg, memoryWeightStore(rounded), IDS);
      assert.equal(maxAbsDiff(a, b), 0);
      // And the rounding is real: the half model differs from the float32 one, but only slightly.
      const full = await logits(cfg, loadModelDir(src).weights, IDS);
      const d = maxAbsDiff(a, full);
      assert.ok(d > 0 && d < (dtype === 'F16' ? 1e-3 : 1e-2), `${dtype} vs F32 max |Δlogit| = ${d}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
