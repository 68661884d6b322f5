/**
 * Multitask prompt tuning (PEFT's MultitaskPromptEmbedding): the parameter names and shapes, the
 * per-row composition embedding.weight ⊙ (cols[t] · rows[t]) differentiated by the graph's autodiff
 * against finite differences (alone, every entry, and through tiny-llama), each row of a mixed
 * batch equal to its task run alone as prompt tuning with the materialised prompt, the host
 * prompt against plain arithmetic, the fresh init, and the task-id checks of batchFeeds.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadGoldenCase } from '../../src/check/golden.ts';
import type { GoldenCase } from '../../src/check/golden.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import type { TokenBatch } from '../../src/methods/batch.ts';
import { initParams } from '../../src/methods/init.ts';
import { multitaskPromptTuning, multitaskTaskPrompt } from '../../src/methods/multitask.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { gradCheck, randn } from '../helpers/gradcheck.ts';
import { GOLDEN } from '../helpers/paths.ts';

let c: GoldenCase;
let batch: TokenBatch; // the golden batch: B 2, T 16, lengths 16 and 11, ignored labels
before(() => {
  c = loadGoldenCase(GOLDEN, 'tiny-llama');
  const file = readSafetensors(join(GOLDEN, 'tiny-llama', 'prompt_tuning.safetensors'));
  batch = {
    inputIds: file.get('input_ids') as Tensor<'int64'>,
    attentionMask: file.get('attention_mask') as Tensor<'int64'>,
    labels: file.get('labels') as Tensor<'int64'>,
  };
});

const EPS = 1e-5;
const TOL = 1e-7;

/** Float64 params: the fresh init, the factors scaled so cols·rows is O(1) and the prompt moves the loss. */
function params64(method: PromptMethod, seed: number): Record<string, Tensor<'float64'>> {
  const init = initParams(c.model.config, method, { seed });
  const scale: Record<string, number> = { 'embedding.weight': 1, prefix_task_cols: 40, prefix_task_rows: 40 };
  return Object.fromEntries(method.params.map((p) => [p.name, tensor('float64', p.shape, Float64Array.from(init[p.name]!.data, (x) => scale[p.name]! * x))]));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("PEFT's parameter names and shapes, numTasks, and bad sizes", () => {
  const d = c.model.config.hiddenSize;
  const m = multitaskPromptTuning(c.model.config, { numVirtualTokens: 5, numTasks: 3, numRanks: 2 });
  assert.equal(m.kind, 'multitask_prompt_tuning');
  assert.equal(m.numVirtualTokens, 5);
  assert.equal(m.numTasks, 3);
  assert.deepEqual(m.params.map((p) => [p.name, [...p.shape]]), [
    ['embedding.weight', [5, d]], ['prefix_task_cols', [3, 5, 2]], ['prefix_task_rows', [3, 2, d]],
  ]);
  assert.throws(() => multitaskPromptTuning(c.model.config, { numVirtualTokens: 5, numTasks: 0, numRanks: 1 }), /number of tasks must be a positive integer, got 0/);
  assert.throws(() => multitaskPromptTuning(c.model.config, { numVirtualTokens: 5, numTasks: 2, numRanks: 1.5 }), /number of ranks must be a positive integer, got 1.5/);
  assert.throws(() => multitaskPromptTuning(c.model.config, { numVirtualTokens: 0, numTasks: 2, numRanks: 1 }), /number of virtual tokens/);
});

test('the composition embedding ⊙ (gather(cols) · gather(rows)), repeated task ids: autodiff = finite differences', async () => {
  const config = { hiddenSize: 4 } as Parameters<typeof multitaskPromptTuning>[0];
  const m = multitaskPromptTuning(config, { numVirtualTokens: 3, numTasks: 3, numRanks: 2 });
  const inputs = Object.fromEntries(m.params.map((p, i) => [p.name, randn(p.shape, 7 + 13 * i, 0.8)]));
  // Task 2 twice (its gradient accumulates), task 1 never (its gradient is zero).
  const ids = tensor('int64', [4], BigInt64Array.from([2n, 0n, 2n, 0n]));
  await gradCheck({
    inputs,
    extra: { task_ids: ids },
    build: (_g, x) => {
      const entry = m.enter(null as never, x, { taskIds: x['task_ids']! });
      assert.equal(entry.placement, 'embeddings');
      assert.ok(entry.placement === 'embeddings' && entry.perExample);
      return entry.placement === 'embeddings' ? entry.virtualTokens : assert.fail();
    },
    eps: EPS,
    tol: TOL,
  });
});

test('float64 tiny-llama multitask prompt tuning: whole-model autodiff gradients match finite differences', async () => {
  const method = multitaskPromptTuning(c.model.config, { numVirtualTokens: 4, numTasks: 3, numRanks: 2 });
  const program = buildProgram(c.model.config, c.model.weights, method, { dtype: 'float64' });
  const session = await compileGraph(program.graph);
  const feeds: Record<string, Tensor> = { ...batchFeeds(method, { ...batch, taskIds: [2, 0] }), ...params64(method, 5) };
  try {
    const out = await session.run(feeds);
    assert.ok(Number.isFinite(out['loss']!.data[0] as number));
    const lossAt = async (pname: string, i: number, delta: number): Promise<number> => {
      const t = feeds[pname]!;
      const d = Float64Array.from(t.data as Float64Array);
      d[i]! += delta;
      return (await session.run({ ...feeds, [pname]: tensor('float64', t.shape, d) }, ['loss']))['loss']!.data[0] as number;
    };
    for (const p of method.params) {
      const grad = out[`grad.${p.name}`]!.data as Float64Array;
      const scale = Math.max(...Array.from(grad, Math.abs));
      assert.ok(scale > 0, `${p.name}: the gradient is not all zero`);
      let top = 0;
      grad.forEach((g, i) => (Math.abs(g) > Math.abs(grad[top]!) ? (top = i) : 0));
      const picks = [top, 1, Math.floor(grad.length / 2), grad.length - 1];
      if (p.name !== 'embedding.weight') {
        // Task 1 has no row in the batch: its factors get exactly zero gradient.
        const per = grad.length / 3;
        assert.ok(grad.subarray(per, 2 * per).every((g) => g === 0), `${p.name}: task 1 is unused, its gradient must be 0`);
        picks.push(per + 1); // and finite differences agree that it is 0
      }
      for (const i of picks) {
        const fd = ((await lossAt(p.name, i, EPS)) - (await lossAt(p.name, i, -EPS))) / (2 * EPS);
        const err = Math.abs(fd - grad[i]!) / scale;
        assert.ok(err < 1e-6, `${p.name}[${i}]: fd ${fd} vs autodiff ${grad[i]} (scaled error ${err})`);
      }
    }
  } finally {
    await session.release();
  }
});

/**
 * Full logits [B, S, V] of `method` on `b` with `params`, float64. The program keeps its loss and
 * gradients: a float64 forward-only graph gets ONNX Runtime's float-only QuickGelu fusion of SiLU.
 */
async function logits(method: PromptMethod, b: TokenBatch, params: Record<string, Tensor>): Promise<Float64Array> {
  const program = buildProgram(c.model.config, c.model.weights, method, { dtype: 'float64', fullLogits: true });
  const session = await compileGraph(program.graph);
  try {
    return (await session.run({ ...batchFeeds(method, b), ...params }, ['logits']))['logits']!.data as Float64Array;
  } finally {
    await session.release();
  }
}

test('rows with different task ids get different prompts; each row = its task alone as prompt tuning with multitaskTaskPrompt', async () => {
  const n = 4;
  const method = multitaskPromptTuning(c.model.config, { numVirtualTokens: n, numTasks: 3, numRanks: 2 });
  const p = params64(method, 11);
  const T = batch.inputIds.shape[1]!;
  // The same input (row 0 of the golden batch) twice, then row 1: tasks 0, 2, 1.
  const rows = [0, 0, 1];
  const pick = (t: Tensor<'int64'>): Tensor<'int64'> => tensor('int64', [rows.length, T], BigInt64Array.from(rows.flatMap((r) => Array.from(t.data.subarray(r * T, (r + 1) * T)))));
  const mixed: TokenBatch = { inputIds: pick(batch.inputIds), attentionMask: pick(batch.attentionMask), labels: pick(batch.labels!) };
  const taskIds = [0, 2, 1];
  const got = await logits(method, { ...mixed, taskIds }, p);
  const S = n + T;
  const V = c.model.config.vocabSize;
  const row = (x: Float64Array, b: number): Float64Array => x.subarray(b * S * V, (b + 1) * S * V);
  // Same tokens, tasks 0 and 2: different prompts, different logits.
  assert.ok(maxAbsDiff(row(got, 0), row(got, 1)) > 1e-2, 'tasks 0 and 2 must give the same input different logits');

  const pt = promptTuning(c.model.config, { numVirtualTokens: n });
  for (let b = 0; b < rows.length; b++) {
    const prompt = multitaskTaskPrompt(p, taskIds[b]!);
    assert.equal(prompt.dtype, 'float64');
    const alone = await logits(pt, mixed, { prompt_embeddings: prompt });
    const e = maxAbsDiff(row(got, b), row(alone, b));
    assert.ok(e < 1e-10, `row ${b} (task ${taskIds[b]}): multitask vs prompt tuning with the task's prompt, max |Δ| ${e}`);
  }
});

test('multitaskTaskPrompt: embedding ⊙ (cols[t] · rows[t]) by plain arithmetic; float32 in, float32 out; bad task ids', () => {
  const d = 3;
  const config = { hiddenSize: d } as Parameters<typeof multitaskPromptTuning>[0];
  multitaskPromptTuning(config, { numVirtualTokens: 2, numTasks: 2, numRanks: 2 });
  const E = [1, 2, 3, 4, 5, 6];
  const C = [1, 0, 0, 1, /* task 1 */ 1, 1, 2, -1];
  const R = [1, 2, 3, 4, 5, 6, /* task 1 */ 0.5, 0.25, 1, 2, 2, 2];
  const p = {
    'embedding.weight': tensor('float32', [2, d], Float32Array.from(E)),
    prefix_task_cols: tensor('float32', [2, 2, 2], Float32Array.from(C)),
    prefix_task_rows: tensor('float32', [2, 2, d], Float32Array.from(R)),
  };
  // task 0: cols = I, so cols·rows = rows[0] = [[1,2,3],[4,5,6]]; ⊙ E = [1,4,9,16,25,36]
  const t0 = multitaskTaskPrompt(p, 0);
  assert.equal(t0.dtype, 'float32');
  assert.deepEqual([...t0.shape], [2, d]);
  assert.deepEqual(Array.from(t0.data), [1, 4, 9, 16, 25, 36]);
  // task 1: rows[1] = [[0.5,0.25,1],[2,2,2]]; cols[1] = [[1,1],[2,-1]] → [[2.5,2.25,3],[-1,-1.5,0]]
  assert.deepEqual(Array.from(multitaskTaskPrompt(p, 1).data), [2.5, 4.5, 9, -4, -7.5, 0]);
  assert.throws(() => multitaskTaskPrompt(p, 2), /task id 2 is out of range; the adapter's tasks are 0\.\.1/);
  assert.throws(() => multitaskTaskPrompt(p, -1), /task id -1 is out of range/);
  assert.throws(() => multitaskTaskPrompt({ ...p, prefix_task_rows: tensor('float32', [3, 2, d], new Float32Array(18)) }, 0), /shapes disagree/);
});

test('fresh init: the shared prompt by the prompt-tuning init, the factors ~ N(0, 0.02²), seeded', () => {
  const method = multitaskPromptTuning(c.model.config, { numVirtualTokens: 8, numTasks: 4, numRanks: 3 });
  const a = initParams(c.model.config, method, { seed: 3 });
  const b = initParams(c.model.config, method, { seed: 3 });
  assert.deepEqual(Object.keys(a), ['embedding.weight', 'prefix_task_cols', 'prefix_task_rows']);
  for (const p of method.params) {
    assert.deepEqual([...a[p.name]!.shape], [...p.shape]);
    assert.deepEqual(a[p.name]!.data, b[p.name]!.data, `${p.name} is seeded`);
  }
  const std = (x: Float32Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const sRows = std(a['prefix_task_rows']!.data);
  const sCols = std(a['prefix_task_cols']!.data);
  const sEmb = std(a['embedding.weight']!.data);
  assert.ok(Math.abs(sRows - 0.02) < 0.002, `rows std ${sRows}`); // 768 samples
  assert.ok(Math.abs(sCols - 0.02) < 0.005, `cols std ${sCols}`); // 96 samples
  assert.ok(Math.abs(sEmb - 1) < 0.1, `embedding std ${sEmb}`); // nn.Embedding N(0, 1), 512 samples
  // vocab init: every row of the shared prompt is a row of the model's embedding table.
  const v = initParams(c.model.config, method, { seed: 3, init: { kind: 'vocab' }, weights: c.model.weights });
  const table = c.model.weights.get('model.embed_tokens.weight').data;
  const d = c.model.config.hiddenSize;
  for (let i = 0; i < 8; i++) {
    const rowI = v['embedding.weight']!.data.subarray(i * d, (i + 1) * d);
    let found = false;
    for (let k = 0; k < c.model.config.vocabSize && !found; k++) found = rowI.every((x, j) => x === table[k * d + j]);
    assert.ok(found, `shared prompt row ${i} is a vocabulary row`);
  }
});

test('batchFeeds: task_ids fed as int64 [B]; a missing, short or out-of-range task id is an error', () => {
  const method = multitaskPromptTuning(c.model.config, { numVirtualTokens: 4, numTasks: 3, numRanks: 1 });
  const feeds = batchFeeds(method, { ...batch, taskIds: [2, 0] });
  assert.equal(feeds['task_ids']!.dtype, 'int64');
  assert.deepEqual([...feeds['task_ids']!.shape], [2]);
  assert.deepEqual(Array.from(feeds['task_ids']!.data as BigInt64Array), [2n, 0n]);
  assert.throws(() => batchFeeds(method, batch), /every row needs a task id \(TokenBatch\.taskIds\); the adapter has 3 tasks/);
  assert.throws(() => batchFeeds(method, { ...batch, taskIds: [0] }), /1 task ids for a batch of 2 rows/);
  assert.throws(() => batchFeeds(method, { ...batch, taskIds: [0, 3] }), /row 1 has task id 3, but the adapter's tasks are 0\.\.2/);
  assert.throws(() => batchFeeds(method, { ...batch, taskIds: [-1, 0] }), /row 0 has task id -1/);
  assert.throws(() => batchFeeds(method, { ...batch, taskIds: [0.5, 0] }), /row 0 has task id 0\.5/);
  assert.throws(() => batchFeeds(promptTuning(c.model.config, { numVirtualTokens: 4 }), { ...batch, taskIds: [0, 0] }), /rows carry task ids but the prompt_tuning has no per-task prompts/);
});

test('the program has a task_ids input only for multitask prompt tuning', () => {
  const mpt = buildProgram(c.model.config, c.model.weights, multitaskPromptTuning(c.model.config, { numVirtualTokens: 2, numTasks: 2, numRanks: 1 }), { loss: false, gradients: false, fullLogits: true });
  const pt = buildProgram(c.model.config, c.model.weights, promptTuning(c.model.config, { numVirtualTokens: 2 }), { loss: false, gradients: false, fullLogits: true });
  const inputs = (g: typeof mpt.graph): string[] => g.inputs.map((v) => v.name);
  assert.ok(inputs(mpt.graph).includes('task_ids'));
  assert.ok(!inputs(pt.graph).includes('task_ids'));
});
