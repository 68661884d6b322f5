/**
 * Activation checkpointing (ProgramOptions.recompute; `selective` by default for large models):
 * each layer's forward (every family) is recomputed inside the backward pass, all of it (`full`)
 * or all but its projections (`selective`). The gradients still equal the golden files and those
 * of the run that keeps every activation to the bit, and the backward reads no activation saved
 * inside a layer (`full`) or only projection outputs (`selective`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkMethod, loadGoldenCase, methodFor } from '../../src/check/golden.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { Node, Value } from '../../src/graph/types.ts';
import type { RecomputeMode } from '../../src/graph/autodiff.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import type { Tensor } from '../../src/tensor.ts';
import { join } from 'node:path';
import { GOLDEN } from '../helpers/paths.ts';

const c = loadGoldenCase(GOLDEN, 'tiny-llama');
const saved = process.env.SOFTPROMPT_RECOMPUTE;
before(() => (process.env.SOFTPROMPT_RECOMPUTE = 'full'));
after(() => {
  if (saved === undefined) delete process.env.SOFTPROMPT_RECOMPUTE;
  else process.env.SOFTPROMPT_RECOMPUTE = saved;
});

for (const mode of ['full', 'selective'] as const) {
  for (const name of ['tiny-llama', 'tiny-gpt2', 'tiny-gpt-neox', 'tiny-opt', 'tiny-bloom'] as const) {
    test(`${name}: losses and gradients of every method equal the golden files with layers recomputed (${mode})`, async () => {
      process.env.SOFTPROMPT_RECOMPUTE = mode;
      const gc = name === 'tiny-llama' ? c : loadGoldenCase(GOLDEN, name);
      for (const m of ['prompt_tuning', 'p_tuning', 'prefix_tuning'] as const) {
        for (const r of await checkMethod(gc, m)) assert.ok(r.ok, `${m} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
      }
    });
  }
}

test('every recomputation mode gives the loss and gradients of the run that keeps all activations, to the bit', async () => {
  for (const m of ['prompt_tuning', 'prefix_tuning'] as const) {
    const method = methodFor(c, m);
    const run = async (recompute: RecomputeMode): Promise<Record<string, Tensor>> => {
      const program = buildProgram(c.model.config, c.model.weights, method, { recompute });
      const session = await compileGraph(program.graph, { heldWeights: true });
      try {
        const file = readSafetensors(join(c.dir, `${m}.safetensors`));
        const feeds = batchFeeds(method, {
          inputIds: file.get('input_ids') as Tensor<'int64'>,
          attentionMask: file.get('attention_mask') as Tensor<'int64'>,
          labels: file.get('labels') as Tensor<'int64'>,
        });
        for (const p of method.params) feeds[p.name] = file.get(p.name)!;
        return await session.run(feeds);
      } finally {
        await session.release();
      }
    };
    const none = await run('none');
    for (const mode of ['selective', 'full'] as const) {
      const other = await run(mode);
      for (const k of Object.keys(none)) assert.deepEqual(Array.from(other[k]!.data as Float32Array), Array.from(none[k]!.data as Float32Array), `${m} ${mode}: ${k}`);
    }
  }
});

/** Float values made inside a layer by the forward pass that some backward op reads. */
function savedInsideLayers(recompute: RecomputeMode): Value[] {
  const method = promptTuning(c.model.config, { numVirtualTokens: 4 });
  const before = buildProgram(c.model.config, c.model.weights, method, { loss: false, gradients: false }).graph.nodes.length;
  const { graph } = buildProgram(c.model.config, c.model.weights, method, { recompute });
  const forward = new Set<Node>(graph.nodes.slice(0, before));
  // A layer's output (the next layer's input) is the checkpoint kept by design.
  const layerOutputs = new Set<Value>();
  for (const n of forward) for (const i of n.inputs) if (i?.producer && i.producer.segment !== n.segment) layerOutputs.add(i);
  const out: Value[] = [];
  for (const n of graph.nodes.slice(before)) {
    for (const i of n.inputs) {
      const p = i?.producer;
      if (i && p && forward.has(p) && p.segment !== undefined && !layerOutputs.has(i) && i.dtype === 'float32' && i.shape.length > 1) out.push(i);
    }
  }
  return out;
}

test('backward ops read no activation saved inside a layer (full), only projection outputs (selective)', () => {
  assert.ok(savedInsideLayers('none').length > 0, 'without recomputation the backward reads saved activations');
  assert.deepEqual(savedInsideLayers('full').map((v) => v.name), []);
  const kept = savedInsideLayers('selective');
  assert.ok(kept.length > 0);
  for (const v of kept) {
    const [a, b] = v.producer!.inputs;
    assert.equal(v.producer!.op, 'MatMul', `${v.name} is kept`);
    assert.ok(b?.producer === null && a?.producer !== null, `${v.name}: a MatMul of an activation by a weight`);
  }
  // q, k, v, o, gate and up of each of tiny-llama's layers; down is not read (the residual add needs nothing).
  assert.equal(kept.length, 6 * c.model.config.numLayers);
});

test('an unknown SOFTPROMPT_RECOMPUTE is refused by name', () => {
  process.env.SOFTPROMPT_RECOMPUTE = 'partial';
  assert.throws(() => buildProgram(c.model.config, c.model.weights, promptTuning(c.model.config, { numVirtualTokens: 4 })), /SOFTPROMPT_RECOMPUTE must be none, selective or full \(or 0\/1\), got "partial"/);
  process.env.SOFTPROMPT_RECOMPUTE = 'full';
});
