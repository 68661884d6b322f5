/**
 * Prompt tuning (Lester et al. 2021): n trainable virtual-token embeddings before the input.
 *
 * With `residualHiddenSize`, residual prompt tuning (Razdaibiedina et al. 2023): the trained tensors
 * are a prompt P [n, d] and a bottleneck MLP with a skip connection, and the virtual tokens are
 * P + LayerNorm(Lin2(ReLU(Lin0(P)))). Only that output enters the model, so the adapter is saved
 * as plain PEFT prompt tuning (prompt_embeddings = the output); the MLP goes to softprompt.json
 * for resuming, as p-tuning's encoder does.
 */
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { torchLinear } from './p_tuning.ts';
import type { PromptMethod } from './types.ts';

export interface PromptTuningOptions {
  numVirtualTokens: number;
  /** The residual reparameterisation's bottleneck width; absent: the prompt is trained directly. */
  residualHiddenSize?: number | undefined;
}

/** torch nn.LayerNorm's default eps. */
export const RESIDUAL_LN_EPS = 1e-5;

/** The residual reparameterisation's output [n, d] from its params (names as in `promptTuning`). */
export function residualPrompt(p: Readonly<Record<string, Value>>): Value {
  const e = p['embedding.weight']!;
  const h = op.relu(torchLinear(e, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!));
  const u = torchLinear(h, p['mlp_head.2.weight']!, p['mlp_head.2.bias']!);
  return op.add(e, op.layerNorm(u, p['layer_norm.weight']!, p['layer_norm.bias']!, RESIDUAL_LN_EPS));
}

export function promptTuning(config: ModelConfig, { numVirtualTokens: n, residualHiddenSize: k }: PromptTuningOptions): PromptMethod {
  const d = config.hiddenSize;
  if (k === undefined) {
    return {
      kind: 'prompt_tuning',
      numVirtualTokens: n,
      params: [{ name: 'prompt_embeddings', shape: [n, d] }],
      enter: (_model, p) => ({ placement: 'embeddings', virtualTokens: p['prompt_embeddings']! }),
    };
  }
  if (!Number.isSafeInteger(k) || k < 1) throw new SoftpromptError(`residual prompt tuning: the bottleneck size must be a positive integer, got ${k}`);
  return {
    kind: 'prompt_tuning',
    numVirtualTokens: n,
    params: [
      { name: 'embedding.weight', shape: [n, d] },
      { name: 'mlp_head.0.weight', shape: [k, d] },
      { name: 'mlp_head.0.bias', shape: [k] },
      { name: 'mlp_head.2.weight', shape: [d, k] },
      { name: 'mlp_head.2.bias', shape: [d] },
      { name: 'layer_norm.weight', shape: [d] },
      { name: 'layer_norm.bias', shape: [d] },
    ],
    encoder: { type: 'residual', hiddenSize: k },
    enter: (_model, p) => ({ placement: 'embeddings', virtualTokens: residualPrompt(p) }),
  };
}
