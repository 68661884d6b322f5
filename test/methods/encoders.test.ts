/**
 * PEFT's encoders, graph side and host side, against an independent float64 reference written in
 * this file straight from torch's documentation (nn.LSTM, nn.Linear, nn.Tanh): the unrolled
 * bidirectional LSTM of p-tuning and the prefix projection. Also the parameter names and shapes
 * (torch's named_parameters) and the torch-default inits.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { prefixProjectionOutput, promptEmbeddingsToSave, pTuningEncoderOutput, residualPromptOutput } from '../../src/adapter/encoder.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { Graph } from '../../src/graph/index.ts';
import { initParams } from '../../src/methods/init.ts';
import { pTuning, pTuningEncoder } from '../../src/methods/p_tuning.ts';
import { prefixProjection, prefixTuning, prefixWidth } from '../../src/methods/prefix_tuning.ts';
import { promptTuning, residualPrompt } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { STORIES } from '../helpers/paths.ts';

let model: ModelDir;
before(() => {
  model = loadModelDir(STORIES);
});

// ---- The reference: plain number[][] arithmetic following torch's docs, sharing no code with src/. ----

type Vec = number[];
type Mat = number[][];

const asMat = (t: Tensor): Mat => {
  const [r, c] = t.shape as [number, number];
  return Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => Number(t.data[i * c + j])));
};
const asVec = (t: Tensor): Vec => Array.from(t.data as ArrayLike<number>);
/** W·v for W [out, in]. */
const mv = (W: Mat, v: Vec): Vec => W.map((row) => row.reduce((s, w, k) => s + w * v[k]!, 0));
const plus = (...vs: Vec[]): Vec => vs[0]!.map((_, i) => vs.reduce((s, v) => s + v[i]!, 0));
const σ = (v: Vec): Vec => v.map((x) => 1 / (1 + Math.exp(-x)));
const tanhV = (v: Vec): Vec => v.map(Math.tanh);
const had = (a: Vec, b: Vec): Vec => a.map((x, i) => x * b[i]!);
/** nn.Linear: y = W x + b, row by row. */
const torchLinearRef = (X: Mat, W: Tensor, b: Tensor): Mat => X.map((x) => plus(mv(asMat(W), x), asVec(b)));

/**
 * torch.nn.LSTM(bidirectional=True, batch_first=True), one sequence, h₀ = c₀ = 0. From the docs:
 *   i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi), f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf),
 *   g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg), o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho),
 *   c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, h_t = o_t ⊙ tanh(c_t);
 * weight_ih_l[k] = (W_ii|W_if|W_ig|W_io) stacked by rows, likewise weight_hh and the biases; the
 * output is [h_t forward, h_t reverse], and layer k > 0 takes it as input.
 */
function torchLstmRef(x: Mat, p: Record<string, Tensor>, prefix: string, layers: number): Mat {
  let input = x;
  for (let l = 0; l < layers; l++) {
    const run = (suffix: string, reverse: boolean): Mat => {
      const Wih = asMat(p[`${prefix}weight_ih_l${l}${suffix}`]!);
      const Whh = asMat(p[`${prefix}weight_hh_l${l}${suffix}`]!);
      const bih = asVec(p[`${prefix}bias_ih_l${l}${suffix}`]!);
      const bhh = asVec(p[`${prefix}bias_hh_l${l}${suffix}`]!);
      const H = Whh[0]!.length;
      const block = <T>(a: T[], k: number): T[] => a.slice(k * H, (k + 1) * H);
      const [Wii, Wif, Wig, Wio] = [0, 1, 2, 3].map((k) => block(Wih, k));
      const [Whi, Whf, Whg, Who] = [0, 1, 2, 3].map((k) => block(Whh, k));
      const [bii, bif, big, bio] = [0, 1, 2, 3].map((k) => block(bih, k));
      const [bhi, bhf, bhg, bho] = [0, 1, 2, 3].map((k) => block(bhh, k));
      let h: Vec = new Array<number>(H).fill(0);
      let c: Vec = new Array<number>(H).fill(0);
      const out: Mat = new Array<Vec>(input.length);
      const order = input.map((_, t) => t);
      if (reverse) order.reverse();
      for (const t of order) {
        const xt = input[t]!;
        const i = σ(plus(mv(Wii!, xt), bii!, mv(Whi!, h), bhi!));
        const f = σ(plus(mv(Wif!, xt), bif!, mv(Whf!, h), bhf!));
        const g = tanhV(plus(mv(Wig!, xt), big!, mv(Whg!, h), bhg!));
        const o = σ(plus(mv(Wio!, xt), bio!, mv(Who!, h), bho!));
        c = plus(had(f, c), had(i, g));
        h = had(o, tanhV(c));
        out[t] = h;
      }
      return out;
    };
    const fwd = run('', false);
    const bwd = run('_reverse', true);
    input = fwd.map((hf, t) => [...hf, ...bwd[t]!]);
  }
  return input;
}

/** PEFT PromptEncoder (LSTM): mlp_head(lstm_head(embedding)[0]), mlp_head = Linear, ReLU, Linear. */
function pTuningLstmRef(p: Record<string, Tensor>, layers: number): Mat {
  const seq = torchLstmRef(asMat(p['embedding.weight']!), p, 'lstm_head.', layers);
  const hidden = torchLinearRef(seq, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!).map((r) => r.map((x) => Math.max(0, x)));
  return torchLinearRef(hidden, p['mlp_head.2.weight']!, p['mlp_head.2.bias']!);
}

/** PEFT PrefixEncoder (prefix_projection): transform(embedding), transform = Linear, Tanh, Linear. */
function prefixProjectionRef(p: Record<string, Tensor>): Mat {
  const hidden = torchLinearRef(asMat(p['embedding.weight']!), p['transform.0.weight']!, p['transform.0.bias']!).map(tanhV);
  return torchLinearRef(hidden, p['transform.2.weight']!, p['transform.2.bias']!);
}

/** Residual prompt tuning (Razdaibiedina et al. 2023, eq. 2): P + LayerNorm(W2·ReLU(W1·P + b1) + b2), torch's biased variance, eps 1e-5. */
function residualRef(p: Record<string, Tensor>): Mat {
  const P = asMat(p['embedding.weight']!);
  const u = torchLinearRef(torchLinearRef(P, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!).map((v) => v.map((x) => Math.max(0, x))), p['mlp_head.2.weight']!, p['mlp_head.2.bias']!);
  const w = asVec(p['layer_norm.weight']!);
  const b = asVec(p['layer_norm.bias']!);
  return u.map((row, i) => {
    const mean = row.reduce((s, x) => s + x, 0) / row.length;
    const variance = row.reduce((s, x) => s + (x - mean) ** 2, 0) / row.length;
    return row.map((x, j) => P[i]![j]! + ((x - mean) / Math.sqrt(variance + 1e-5)) * w[j]! + b[j]!);
  });
}

// ---- The graph, run by ONNX Runtime. ----

async function runGraph(method: PromptMethod, params: Record<string, Tensor>, dtype: 'float32' | 'float64'): Promise<Tensor> {
  const g = new Graph('encoder');
  const xs = Object.fromEntries(method.params.map((p) => [p.name, g.input(p.name, dtype, p.shape)]));
  g.output('y', method.kind === 'p_tuning' ? pTuningEncoder(xs, method.encoder) : method.encoder?.type === 'residual' ? residualPrompt(xs) : prefixProjection(xs));
  const session = await compileGraph(g);
  try {
    const feeds = Object.fromEntries(Object.entries(params).map(([k, t]) => [
      k, dtype === 'float64' ? tensor('float64', t.shape, Float64Array.from(t.data as Float32Array)) : t,
    ]));
    return (await session.run(feeds))['y']!;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Params from the torch-default init with every tensor scaled, so gates and tanh leave their linear range. */
function scaledInit(method: PromptMethod, seed: number, scale: number): Record<string, Tensor<'float32'>> {
  const p = initParams(model.config, method, { seed });
  return Object.fromEntries(Object.entries(p).map(([k, t]) => [k, tensor('float32', t.shape, t.data.map((x) => x * scale))]));
}

test("p-tuning LSTM: torch's parameter names and shapes (PromptEncoder with nn.LSTM(d, h, 2, bidirectional))", () => {
  const d = model.config.hiddenSize;
  const h = 16;
  const method = pTuning(model.config, { numVirtualTokens: 5, encoderHiddenSize: h, encoderType: 'lstm' });
  const expected: [string, number[]][] = [['embedding.weight', [5, d]]];
  for (const l of [0, 1]) {
    for (const s of ['', '_reverse']) {
      expected.push(
        [`lstm_head.weight_ih_l${l}${s}`, [4 * h, l === 0 ? d : 2 * h]],
        [`lstm_head.weight_hh_l${l}${s}`, [4 * h, h]],
        [`lstm_head.bias_ih_l${l}${s}`, [4 * h]],
        [`lstm_head.bias_hh_l${l}${s}`, [4 * h]],
      );
    }
  }
  expected.push(['mlp_head.0.weight', [2 * h, 2 * h]], ['mlp_head.0.bias', [2 * h]], ['mlp_head.2.weight', [d, 2 * h]], ['mlp_head.2.bias', [d]]);
  assert.deepEqual(method.params.map((p) => [p.name, [...p.shape]]), expected);
  assert.deepEqual(method.encoder, { type: 'lstm', hiddenSize: h, numLayers: 2 });
  assert.equal(pTuning(model.config, { numVirtualTokens: 5, encoderHiddenSize: h, encoderType: 'lstm', encoderNumLayers: 3 }).params.length, 1 + 3 * 8 + 4);
  assert.throws(() => pTuning(model.config, { numVirtualTokens: 5, encoderHiddenSize: h, encoderType: 'gru' as 'lstm' }), /unknown encoder type "gru"; use mlp or lstm/);
  assert.throws(() => pTuning(model.config, { numVirtualTokens: 5, encoderHiddenSize: 0 }), /hidden size must be a positive integer, got 0/);
});

test('prefix projection: PEFT\'s names and shapes, token_dim = kv_heads × head_dim (GQA), hidden size default token_dim', () => {
  const c = model.config; // stories260K: 8 heads, 4 kv heads, head_dim 8 → token_dim 32
  const td = c.numKvHeads * c.headDim;
  assert.equal(td, 32);
  const method = prefixTuning(c, { numVirtualTokens: 3, projection: true });
  assert.deepEqual(method.params.map((p) => [p.name, [...p.shape]]), [
    ['embedding.weight', [3, td]], ['transform.0.weight', [td, td]], ['transform.0.bias', [td]],
    ['transform.2.weight', [prefixWidth(c), td]], ['transform.2.bias', [prefixWidth(c)]],
  ]);
  assert.equal(prefixWidth(c), c.numLayers * 2 * td);
  assert.deepEqual(method.encoder, { type: 'prefix_projection', hiddenSize: td });
  assert.deepEqual(prefixTuning(c, { numVirtualTokens: 3, projection: true, encoderHiddenSize: 48 }).params[1]!.shape, [48, td]);
  assert.equal(prefixTuning(c, { numVirtualTokens: 3 }).encoder, undefined);
});

for (const layers of [1, 2, 3]) {
  test(`p-tuning LSTM (${layers} layer${layers > 1 ? 's' : ''}): graph (float64) = torch-equation reference; host encoder = graph (float32)`, async (t) => {
    const method = pTuning(model.config, { numVirtualTokens: 6, encoderHiddenSize: 12, encoderType: 'lstm', encoderNumLayers: layers });
    const p = scaledInit(method, 10 + layers, 2);
    const ref = pTuningLstmRef(p, layers).flat();
    const g64 = (await runGraph(method, p, 'float64')).data as Float64Array;
    const e64 = maxAbsDiff(g64, ref);
    assert.ok(e64 < 1e-12, `float64 graph vs reference: ${e64}`);
    const g32 = (await runGraph(method, p, 'float32')).data as Float32Array;
    const host = pTuningEncoderOutput(p);
    assert.deepEqual(host.shape, [6, model.config.hiddenSize]);
    const eHost = maxAbsDiff(host.data, g32);
    const eHostRef = maxAbsDiff(host.data, ref);
    assert.ok(eHost < 1e-5, `host vs float32 graph: ${eHost}`);
    assert.ok(eHostRef < 1e-6, `host vs reference: ${eHostRef}`);
    t.diagnostic(`max |Δ|: float64 graph vs reference ${e64.toExponential(1)}, host vs float32 graph ${eHost.toExponential(1)}, host vs reference ${eHostRef.toExponential(1)}`);
    assert.deepEqual(promptEmbeddingsToSave(method, p).data, host.data);
  });
}

test('p-tuning LSTM with one virtual token (no recurrence): graph = reference', async () => {
  const method = pTuning(model.config, { numVirtualTokens: 1, encoderHiddenSize: 8, encoderType: 'lstm' });
  const p = scaledInit(method, 3, 2);
  const e = maxAbsDiff((await runGraph(method, p, 'float64')).data as Float64Array, pTuningLstmRef(p, 2).flat());
  assert.ok(e < 1e-12, `${e}`);
  assert.ok(maxAbsDiff(pTuningEncoderOutput(p).data, pTuningLstmRef(p, 2).flat()) < 1e-6);
});

test('prefix projection: graph (float64) = reference; host encoder = graph (float32)', async (t) => {
  const method = prefixTuning(model.config, { numVirtualTokens: 4, projection: true, encoderHiddenSize: 24 });
  const p = scaledInit(method, 8, 1.5);
  const ref = prefixProjectionRef(p).flat();
  const e64 = maxAbsDiff((await runGraph(method, p, 'float64')).data as Float64Array, ref);
  assert.ok(e64 < 1e-12, `float64 graph vs reference: ${e64}`);
  const g32 = (await runGraph(method, p, 'float32')).data as Float32Array;
  const host = prefixProjectionOutput(p);
  assert.deepEqual(host.shape, [4, prefixWidth(model.config)]);
  assert.ok(maxAbsDiff(host.data, g32) < 1e-5, `host vs float32 graph: ${maxAbsDiff(host.data, g32)}`);
  assert.ok(maxAbsDiff(host.data, ref) < 1e-6);
  assert.deepEqual(promptEmbeddingsToSave(method, p).data, host.data);
  t.diagnostic(`max |Δ|: float64 graph vs reference ${e64.toExponential(1)}, host vs float32 graph ${maxAbsDiff(host.data, g32).toExponential(1)}`);
});

test('the host p-tuning encoder still computes the MLP (no lstm_head.*) as before', async () => {
  const method = pTuning(model.config, { numVirtualTokens: 4, encoderHiddenSize: 16 });
  const p = scaledInit(method, 2, 1);
  const g32 = (await runGraph(method, p, 'float32')).data as Float32Array;
  assert.ok(maxAbsDiff(pTuningEncoderOutput(p).data, g32) < 1e-5);
});

function bounds(data: Float32Array): { max: number; mean: number; std: number } {
  let max = 0;
  let s = 0;
  for (const x of data) {
    max = Math.max(max, Math.abs(x));
    s += x;
  }
  const mean = s / data.length;
  let v = 0;
  for (const x of data) v += (x - mean) ** 2;
  return { max, mean, std: Math.sqrt(v / data.length) };
}

test('init follows torch: nn.LSTM U(±1/√h) for every weight and bias, nn.Linear U(±1/√fan_in), nn.Embedding N(0, 1)', () => {
  const h = 16;
  const method = pTuning(model.config, { numVirtualTokens: 40, encoderHiddenSize: h, encoderType: 'lstm' });
  const p = initParams(model.config, method, { seed: 9 });
  assert.deepEqual(Object.keys(p), method.params.map((q) => q.name));
  const emb = bounds(p['embedding.weight']!.data as Float32Array);
  assert.ok(Math.abs(emb.mean) < 0.1 && Math.abs(emb.std - 1) < 0.1, `embedding ${JSON.stringify(emb)}`);
  for (const q of method.params) {
    if (q.name === 'embedding.weight') continue;
    const fanIn = q.name.startsWith('lstm_head.') ? h : 2 * h; // both mlp_head Linears read 2h features
    const bound = Math.fround(1 / Math.sqrt(fanIn));
    const { max, std } = bounds(p[q.name]!.data as Float32Array);
    assert.ok(max <= bound, `${q.name}: max ${max} > ${bound}`);
    assert.ok(max > 0.9 * bound, `${q.name} fills its range (max ${max}, bound ${bound})`);
    assert.ok(Math.abs(std - bound / Math.sqrt(3)) < 0.25 * bound, `${q.name}: uniform std ${std}`);
  }
  assert.deepEqual(initParams(model.config, method, { seed: 9 })['lstm_head.weight_hh_l1_reverse']!.data, p['lstm_head.weight_hh_l1_reverse']!.data);

  const proj = prefixTuning(model.config, { numVirtualTokens: 30, projection: true, encoderHiddenSize: 20 });
  const q = initParams(model.config, proj, { seed: 4 });
  const pe = bounds(q['embedding.weight']!.data as Float32Array);
  assert.ok(Math.abs(pe.mean) < 0.15 && Math.abs(pe.std - 1) < 0.15, `prefix embedding ${JSON.stringify(pe)}`);
  for (const [name, fanIn] of [['transform.0.weight', 32], ['transform.0.bias', 32], ['transform.2.weight', 20], ['transform.2.bias', 20]] as const) {
    const { max } = bounds(q[name]!.data as Float32Array);
    const bound = Math.fround(1 / Math.sqrt(fanIn));
    assert.ok(max <= bound && max > 0.9 * bound, `${name}: max ${max}, bound ${bound}`);
  }
  assert.throws(() => initParams(model.config, proj, { seed: 4, init: { kind: 'vocab' } }), /prompt tuning only/);
});

test('residual prompt tuning: names and shapes, torch inits (LayerNorm 1/0), the prompt init on the prompt only; graph = reference; host = graph; saved as its output', async (t) => {
  const d = model.config.hiddenSize;
  const method = promptTuning(model.config, { numVirtualTokens: 5, residualHiddenSize: 12 });
  assert.deepEqual(method.params.map((p) => [p.name, [...p.shape]]), [
    ['embedding.weight', [5, d]], ['mlp_head.0.weight', [12, d]], ['mlp_head.0.bias', [12]], ['mlp_head.2.weight', [d, 12]], ['mlp_head.2.bias', [d]],
    ['layer_norm.weight', [d]], ['layer_norm.bias', [d]],
  ]);
  assert.deepEqual(method.encoder, { type: 'residual', hiddenSize: 12 });
  assert.equal(promptTuning(model.config, { numVirtualTokens: 5 }).encoder, undefined);
  assert.throws(() => promptTuning(model.config, { numVirtualTokens: 5, residualHiddenSize: 0 }), /bottleneck size must be a positive integer, got 0/);
  const init = initParams(model.config, method, { seed: 3 });
  assert.ok(init['layer_norm.weight']!.data.every((x) => x === 1) && init['layer_norm.bias']!.data.every((x) => x === 0));
  // nn.Linear: U(±1/√fan_in), spread over the bound (not zeros, not the prompt's N(0, 1)).
  for (const [name, fanIn] of [['mlp_head.0.weight', d], ['mlp_head.2.bias', 12]] as const) {
    const peak = Math.max(...Array.from(init[name]!.data, Math.abs));
    assert.ok(peak <= 1 / Math.sqrt(fanIn) && peak > 0.8 / Math.sqrt(fanIn), `${name}: max |x| ${peak} against the bound ${1 / Math.sqrt(fanIn)}`);
  }
  // A vocab init fills the prompt (not the MLP) with rows of the model's embedding table.
  const text = initParams(model.config, method, { seed: 3, init: { kind: 'vocab' }, weights: model.weights });
  const table = model.weights.get('model.embed_tokens.weight').data;
  const row0 = text['embedding.weight']!.data.subarray(0, d);
  assert.ok([...Array(model.config.vocabSize).keys()].some((v) => maxAbsDiff(table.subarray(v * d, (v + 1) * d), row0) === 0), 'the vocab init copies embedding rows into the prompt');
  // Params scaled so ReLU cuts and the LayerNorm's affine part are both exercised.
  const p = Object.fromEntries(Object.entries(scaledInit(method, 7, 2)).map(([k, v]) => [k, k.startsWith('layer_norm') ? tensor('float32', v.shape, v.data.map((x, i) => x * 0.5 + 0.1 * (i % 3))) : v]));
  const ref = residualRef(p).flat();
  const g64 = (await runGraph(method, p, 'float64')).data as Float64Array;
  const e64 = maxAbsDiff(g64, ref);
  assert.ok(e64 < 1e-12, `float64 graph vs reference: ${e64}`);
  const g32 = (await runGraph(method, p, 'float32')).data as Float32Array;
  const host = residualPromptOutput(p);
  const eHost = maxAbsDiff(host.data, g32);
  const eHostRef = maxAbsDiff(host.data, ref);
  assert.ok(eHost < 1e-5, `host vs float32 graph: ${eHost}`);
  assert.ok(eHostRef < 1e-6, `host vs reference: ${eHostRef}`);
  assert.ok(maxAbsDiff(ref, asMat(p['embedding.weight']!).flat()) > 0.1, 'the residual branch changes the prompt');
  t.diagnostic(`max |Δ|: float64 graph vs reference ${e64.toExponential(1)}, host vs float32 graph ${eHost.toExponential(1)}, host vs reference ${eHostRef.toExponential(1)}`);
  assert.deepEqual(promptEmbeddingsToSave(method, p).data, host.data);
});
