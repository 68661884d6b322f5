/**
 * P-tuning (Liu et al. 2021) with PEFT's PromptEncoder. The virtual tokens [n, d] are
 * - MLP:  Lin4(ReLU(Lin2(ReLU(Lin0(embedding)))))
 * - LSTM: Lin2(ReLU(Lin0(BiLSTM(embedding)))), a bidirectional encoder_num_layers-layer LSTM of
 *   hidden size h (output 2h), then Linear(2h, 2h), ReLU, Linear(2h, d)
 * with Linear weights in torch layout [out, in] and PEFT's parameter names.
 */
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { bidirectionalLstm, lstmParams } from './lstm.ts';
import type { EncoderSpec, ParamSpec, PromptMethod } from './types.ts';

/** PEFT's encoder_reparameterization_type, lower-cased. */
export type PTuningEncoderType = 'mlp' | 'lstm';
export const P_TUNING_ENCODER_TYPES: readonly PTuningEncoderType[] = ['mlp', 'lstm'];

export interface PTuningOptions {
  numVirtualTokens: number;
  encoderHiddenSize: number;
  /** Default mlp (PEFT's recommended encoder). */
  encoderType?: PTuningEncoderType;
  /** LSTM layers (PEFT's encoder_num_layers, default 2). PEFT's MLP ignores it. */
  encoderNumLayers?: number;
}

/** torch nn.Linear: y = x·Wᵀ + b */
export function torchLinear(x: Value, w: Value, b: Value): Value {
  return op.add(op.matmul(x, op.transpose(w, [1, 0])), b);
}

/** The encoder output [n, d] from PEFT-named params (MLP unless `encoder` says LSTM). */
export function pTuningEncoder(p: Readonly<Record<string, Value>>, encoder?: EncoderSpec): Value {
  if (encoder?.type === 'lstm') {
    const seq = bidirectionalLstm(p['embedding.weight']!, p, 'lstm_head.', encoder.numLayers);
    const h0 = op.relu(torchLinear(seq, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!));
    return torchLinear(h0, p['mlp_head.2.weight']!, p['mlp_head.2.bias']!);
  }
  const h0 = op.relu(torchLinear(p['embedding.weight']!, p['mlp_head.0.weight']!, p['mlp_head.0.bias']!));
  const h1 = op.relu(torchLinear(h0, p['mlp_head.2.weight']!, p['mlp_head.2.bias']!));
  return torchLinear(h1, p['mlp_head.4.weight']!, p['mlp_head.4.bias']!);
}

function positive(what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new SoftpromptError(`p-tuning: ${what} must be a positive integer, got ${v}`);
  return v;
}

export function pTuning(config: ModelConfig, opts: PTuningOptions): PromptMethod {
  const d = config.hiddenSize;
  const n = positive('the number of virtual tokens', opts.numVirtualTokens);
  const h = positive('the encoder hidden size', opts.encoderHiddenSize);
  const type = opts.encoderType ?? 'mlp';
  let encoder: EncoderSpec;
  let head: ParamSpec[];
  if (type === 'lstm') {
    encoder = { type, hiddenSize: h, numLayers: positive('the number of LSTM layers', opts.encoderNumLayers ?? 2) };
    head = [
      ...lstmParams('lstm_head.', d, h, encoder.numLayers),
      { name: 'mlp_head.0.weight', shape: [2 * h, 2 * h] },
      { name: 'mlp_head.0.bias', shape: [2 * h] },
      { name: 'mlp_head.2.weight', shape: [d, 2 * h] },
      { name: 'mlp_head.2.bias', shape: [d] },
    ];
  } else if (type === 'mlp') {
    encoder = { type, hiddenSize: h };
    head = [
      { name: 'mlp_head.0.weight', shape: [h, d] },
      { name: 'mlp_head.0.bias', shape: [h] },
      { name: 'mlp_head.2.weight', shape: [h, h] },
      { name: 'mlp_head.2.bias', shape: [h] },
      { name: 'mlp_head.4.weight', shape: [d, h] },
      { name: 'mlp_head.4.bias', shape: [d] },
    ];
  } else {
    throw new SoftpromptError(`p-tuning: unknown encoder type ${JSON.stringify(type)}; use ${P_TUNING_ENCODER_TYPES.join(' or ')}`);
  }
  return {
    kind: 'p_tuning',
    numVirtualTokens: n,
    params: [{ name: 'embedding.weight', shape: [n, d] }, ...head],
    encoder,
    enter: (_model, p) => ({ placement: 'embeddings', virtualTokens: pTuningEncoder(p, encoder) }),
  };
}
