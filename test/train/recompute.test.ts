/**
 * Activation checkpointing (ProgramOptions.recompute, on by default for large models): each
 * layer's forward (every family) is recomputed inside the backward pass. The gradients still equal the
 * golden files, and no backward op reads an activation saved inside a layer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkMethod, loadGoldenCase } from '../../src/check/golden.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { Node, Value } from '../../src/graph/types.ts';
import { GOLDEN } from '../helpers/paths.ts';

const c = loadGoldenCase(GOLDEN, 'tiny-llama');
const saved = process.env.SOFTPROMPT_RECOMPUTE;
before(() => (process.env.SOFTPROMPT_RECOMPUTE = '1'));
after(() => {
  if (saved === undefined) delete process.env.SOFTPROMPT_RECOMPUTE;
  else process.env.SOFTPROMPT_RECOMPUTE = saved;
});

for (const name of ['tiny-llama', 'tiny-gpt2', 'tiny-gpt-neox', 'tiny-opt', 'tiny-bloom'] as const) {
  test(`${name}: losses and gradients of every method equal the golden files with layers recomputed`, async () => {
    const gc = name === 'tiny-llama' ? c : loadGoldenCase(GOLDEN, name);
    for (const m of ['prompt_tuning', 'p_tuning', 'prefix_tuning'] as const) {
      for (const r of await checkMethod(gc, m)) assert.ok(r.ok, `${m} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
    }
  });
}

/** Float values made inside a layer by the forward pass that some backward op reads. */
function savedInsideLayers(recompute: boolean): Value[] {
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

test('backward ops read no activation saved inside a layer', () => {
  assert.ok(savedInsideLayers(false).length > 0, 'without recomputation the backward reads saved activations');
  assert.deepEqual(savedInsideLayers(true).map((v) => v.name), []);
});
