/**
 * P-tuning (Liu et al. 2021) with PEFT's MLP PromptEncoder: the virtual tokens are
 * Lin4(ReLU(Lin2(ReLU(Lin0(embedding))))), Linear weights in torch layout [out, in].
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { PromptMethod } from './types.ts';

export interface PTuningOptions {
  numVirtualTokens: number;
  encoderHiddenSize: number;
}

/** torch nn.Linear: y = x·Wᵀ + b */
function torchLinear(x: Value, w: Value, b: Value): Value {
  return op.add(op.matmul(x, op.transpose(w, [1, 0])), b);
}

/** The encoder output [n, d] from PEFT-named params. */
export function pTuningEncoder(p: Readonly<Record<string, Value>>): Value {
  const h0 = op.relu(torchLinear(p['embedding.weight']!, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!));
  const h1 = op.relu(torchLinear(h0, p['mlp_head.2.weight']!, p['mlp_head.2.bias']!));
  return torchLinear(h1, p['mlp_head.4.weight']!, p['mlp_head.4.bias']!);
}

export function pTuning(config: ModelConfig, { numVirtualTokens: n, encoderHiddenSize: h }: PTuningOptions): PromptMethod {
  const d = config.hiddenSize;
  return {
    kind: 'p_tuning',
    numVirtualTokens: n,
    params: [
      { name: 'embedding.weight', shape: [n, d] },
      { name: 'mlp_head.0.weight', shape: [h, d] },
      { name: 'mlp_head.0.bias', shape: [h] },
      { name: 'mlp_head.2.weight', shape: [h, h] },
      { name: 'mlp_head.2.bias', shape: [h] },
      { name: 'mlp_head.4.weight', shape: [d, h] },
      { name: 'mlp_head.4.bias', shape: [d] },
    ],
    enter: (_model, p) => ({ placement: 'embeddings', virtualTokens: pTuningEncoder(p) }),
  };
}
