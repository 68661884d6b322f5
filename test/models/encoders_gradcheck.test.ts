/**
 * The encoders PEFT trains through, differentiated by the graph's autodiff, against central finite
 * differences in float64: the unrolled bidirectional LSTM and p-tuning's LSTM encoder, the prefix
 * projection (each alone, every entry checked), and both inside tiny GPT-2 and Llama models (the
 * largest-|grad| entry of each tensor plus three others, as model_gradcheck.test.ts does).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadGoldenCase } from '../../src/check/golden.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { initParams } from '../../src/methods/init.ts';
import { bidirectionalLstm, lstmParams } from '../../src/methods/lstm.ts';
import { pTuning, pTuningEncoder } from '../../src/methods/p_tuning.ts';
import { prefixProjection, prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning, residualPrompt } from '../../src/methods/prompt_tuning.ts';
import { buildProgram } from '../../src/methods/program.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { gradCheck, randn } from '../helpers/gradcheck.ts';
import { GOLDEN } from '../helpers/paths.ts';

/** Float64 N(0, scale²) values for each spec, seeded per tensor. */
function randomInputs(specs: readonly { name: string; shape: readonly number[] }[], seed: number, scale: number): Record<string, Tensor<'float64'>> {
  return Object.fromEntries(specs.map((p, i) => [p.name, randn(p.shape, seed + 17 * i, scale)]));
}

// eps 1e-5: float64 round-off over a few hundred ops stays far below the truncation error eps².
const EPS = 1e-5;
const TOL = 1e-7;

test('bidirectional 2-layer LSTM (input and every weight): autodiff = finite differences', async () => {
  const [n, d, h] = [4, 3, 2];
  const specs = [{ name: 'x', shape: [n, d] }, ...lstmParams('lstm.', d, h, 2)];
  await gradCheck({ inputs: randomInputs(specs, 1, 0.7), build: (_g, x) => bidirectionalLstm(x['x']!, x, 'lstm.', 2), eps: EPS, tol: TOL });
});

test('one-token, one-layer LSTM (no recurrence, no split over time): autodiff = finite differences', async () => {
  const specs = [{ name: 'x', shape: [1, 3] }, ...lstmParams('lstm.', 3, 2, 1)];
  await gradCheck({ inputs: randomInputs(specs, 2, 0.7), build: (_g, x) => bidirectionalLstm(x['x']!, x, 'lstm.', 1), eps: EPS, tol: TOL });
});

test("p-tuning's LSTM encoder (embedding → BiLSTM → Linear, ReLU, Linear): autodiff = finite differences", async () => {
  const config = { hiddenSize: 4 } as Parameters<typeof pTuning>[0];
  const method = pTuning(config, { numVirtualTokens: 3, encoderHiddenSize: 2, encoderType: 'lstm' });
  await gradCheck({ inputs: randomInputs(method.params, 3, 0.7), build: (_g, x) => pTuningEncoder(x, method.encoder), eps: EPS, tol: TOL });
});

test('prefix projection (embedding → Linear → Tanh → Linear): autodiff = finite differences', async () => {
  const config = { numLayers: 2, numKvHeads: 2, headDim: 2 } as Parameters<typeof prefixTuning>[0];
  const method = prefixTuning(config, { numVirtualTokens: 3, projection: true, encoderHiddenSize: 5 });
  assert.deepEqual(method.params.map((p) => [p.name, p.shape]), [
    ['embedding.weight', [3, 4]], ['transform.0.weight', [5, 4]], ['transform.0.bias', [5]], ['transform.2.weight', [16, 5]], ['transform.2.bias', [16]],
  ]);
  await gradCheck({ inputs: randomInputs(method.params, 4, 0.7), build: (_g, x) => prefixProjection(x), eps: EPS, tol: TOL });
});

test('residual prompt reparameterisation (prompt + LayerNorm(Linear → ReLU → Linear)): autodiff = finite differences', async () => {
  const config = { hiddenSize: 5 } as Parameters<typeof promptTuning>[0];
  const method = promptTuning(config, { numVirtualTokens: 3, residualHiddenSize: 4 });
  await gradCheck({ inputs: randomInputs(method.params, 6, 0.7), build: (_g, x) => residualPrompt(x), eps: EPS, tol: TOL });
});

const MODEL_CASES: [string, string, (c: ReturnType<typeof loadGoldenCase>) => PromptMethod, 'p_tuning' | 'prefix_tuning'][] = [
  ['tiny-gpt2-sharp', 'p-tuning LSTM', (c) => pTuning(c.model.config, { numVirtualTokens: 3, encoderHiddenSize: 6, encoderType: 'lstm' }), 'p_tuning'],
  ['tiny-llama', 'p-tuning LSTM', (c) => pTuning(c.model.config, { numVirtualTokens: 3, encoderHiddenSize: 6, encoderType: 'lstm' }), 'p_tuning'],
  ['tiny-gpt2-sharp', 'prefix projection', (c) => prefixTuning(c.model.config, { numVirtualTokens: 3, projection: true, encoderHiddenSize: 8 }), 'prefix_tuning'],
  ['tiny-llama', 'prefix projection (GQA)', (c) => prefixTuning(c.model.config, { numVirtualTokens: 3, projection: true, encoderHiddenSize: 8 }), 'prefix_tuning'],
];

for (const [name, what, make, batchOf] of MODEL_CASES) {
  test(`float64 ${name} ${what}: whole-model autodiff gradients match finite differences`, async () => {
    const c = loadGoldenCase(GOLDEN, name);
    const method = make(c);
    const file = readSafetensors(join(GOLDEN, name, `${batchOf}.safetensors`)); // the golden batch: padding and ignored labels
    const program = buildProgram(c.model.config, c.model.weights, method, { dtype: 'float64' });
    const session = await compileGraph(program.graph);
    const feeds: Record<string, Tensor> = batchFeeds(method, {
      inputIds: file.get('input_ids') as Tensor<'int64'>,
      attentionMask: file.get('attention_mask') as Tensor<'int64'>,
      labels: file.get('labels') as Tensor<'int64'>,
    });
    // torch-like init, with the last layers scaled up so the prompt moves the loss noticeably.
    const init = initParams(c.model.config, method, { seed: 5 });
    for (const p of method.params) feeds[p.name] = tensor('float64', p.shape, Float64Array.from(init[p.name]!.data, (x) => 3 * x));
    const out = await session.run(feeds);
    const lossAt = async (pname: string, i: number, delta: number): Promise<number> => {
      const t = feeds[pname]!;
      const d = Float64Array.from(t.data as Float64Array);
      d[i]! += delta;
      return (await session.run({ ...feeds, [pname]: tensor('float64', t.shape, d) }, ['loss']))['loss']!.data[0] as number;
    };
    const eps = EPS;
    let worst = 0;
    try {
      for (const p of method.params) {
        const grad = out[`grad.${p.name}`]!.data as Float64Array;
        const scale = Math.max(...Array.from(grad, Math.abs));
        assert.ok(scale > 0, `${p.name}: the gradient is not all zero`);
        let top = 0;
        grad.forEach((g, i) => (Math.abs(g) > Math.abs(grad[top]!) ? (top = i) : 0));
        for (const i of [top, 1, Math.floor(grad.length / 2), grad.length - 1]) {
          const fd = ((await lossAt(p.name, i, eps)) - (await lossAt(p.name, i, -eps))) / (2 * eps);
          const err = Math.abs(fd - grad[i]!) / scale;
          worst = Math.max(worst, err);
          assert.ok(err < 1e-6, `${p.name}[${i}]: fd ${fd} vs autodiff ${grad[i]} (scaled error ${err})`);
        }
      }
    } finally {
      await session.release();
    }
    assert.ok(Number.isFinite(out['loss']!.data[0] as number));
  });
}
