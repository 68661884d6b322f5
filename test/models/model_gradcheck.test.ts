/**
 * Whole-model gradients in float64 against central finite differences: the autodiff of
 * the full GPT-2 / Llama graphs, not just single ops. Entries checked per tensor: the
 * largest-|grad| one plus three others, as in golden/selfcheck.json.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadGoldenCase, methodFor } from '../../src/check/golden.ts';
import type { GoldenMethod } from '../../src/check/golden.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { GOLDEN } from '../helpers/paths.ts';

const CASES: [string, Exclude<GoldenMethod, 'forward'>][] = [
  ['tiny-llama', 'prompt_tuning'],
  ['tiny-llama', 'prefix_tuning'],
  ['tiny-gpt2-sharp', 'p_tuning'],
  ['stories260K', 'prefix_tuning'],
  ['tiny-gpt-neox', 'prompt_tuning'], // float64 erf GELU, partial RoPE
  ['tiny-opt', 'prefix_tuning'],
  ['tiny-bloom', 'prompt_tuning'], // ALiBi, embedding LayerNorm on the soft prompt
];

for (const [name, m] of CASES) {
  test(`float64 ${name} ${m}: autodiff gradients match finite differences`, async () => {
    const c = loadGoldenCase(GOLDEN, name);
    const file = readSafetensors(join(GOLDEN, name, `${m}.safetensors`));
    const method = methodFor(c, m);
    const program = buildProgram(c.model.config, c.model.weights, method, { dtype: 'float64' });
    const session = await compileGraph(program.graph);
    const feeds: Record<string, Tensor> = batchFeeds(method, {
      inputIds: file.get('input_ids') as Tensor<'int64'>,
      attentionMask: file.get('attention_mask') as Tensor<'int64'>,
      labels: file.get('labels') as Tensor<'int64'>,
    });
    for (const p of method.params) feeds[p.name] = tensor('float64', p.shape, Float64Array.from(file.get(p.name)!.data as Float32Array));
    const out = await session.run(feeds);
    const lossAt = async (pname: string, i: number, delta: number): Promise<number> => {
      const t = feeds[pname]!;
      const d = Float64Array.from(t.data as Float64Array);
      d[i]! += delta;
      return (await session.run({ ...feeds, [pname]: tensor('float64', t.shape, d) }, ['loss']))['loss']!.data[0] as number;
    };
    const eps = 1e-6;
    for (const p of method.params) {
      const grad = out[`grad.${p.name}`]!.data as Float64Array;
      const scale = Math.max(...Array.from(grad, Math.abs));
      let top = 0;
      grad.forEach((g, i) => (Math.abs(g) > Math.abs(grad[top]!) ? (top = i) : 0));
      for (const i of [top, 1, Math.floor(grad.length / 2), grad.length - 1]) {
        const fd = ((await lossAt(p.name, i, eps)) - (await lossAt(p.name, i, -eps))) / (2 * eps);
        const err = Math.abs(fd - grad[i]!) / scale;
        assert.ok(err < 1e-6, `${p.name}[${i}]: fd ${fd} vs autodiff ${grad[i]} (scaled error ${err})`);
      }
    }
    // The float64 loss also agrees with the golden (itself float64, stored as float32).
    assert.ok(Math.abs((out['loss']!.data[0] as number) - (file.get('loss')!.data[0] as number)) < 1e-6);
    await session.release();
  });
}
