/** Random GPT-2 weights with Hugging Face names: N(0, std²) everywhere, LayerNorm weights 1. */
import type { ModelConfig } from '../src/formats/hf_config.ts';
import type { Tensor } from '../src/tensor.ts';
import { tensor } from '../src/tensor.ts';
import type { Rng } from './rng.ts';

export function randomGpt2Weights(config: ModelConfig, rng: Rng, std = 0.02): Map<string, Tensor> {
  const { hiddenSize: d, intermediateSize: ff, vocabSize: V, maxPositions: P } = config;
  const out = new Map<string, Tensor>();
  const normal = (name: string, shape: number[]): void => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    out.set(name, tensor('float32', shape, rng.fillNormal(data, std)));
  };
  const ones = (name: string, shape: number[]): void => {
    out.set(name, tensor('float32', shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1)));
  };
  normal('wte.weight', [V, d]);
  normal('wpe.weight', [P, d]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `h.${l}`;
    ones(`${p}.ln_1.weight`, [d]);
    normal(`${p}.ln_1.bias`, [d]);
    normal(`${p}.attn.c_attn.weight`, [d, 3 * d]);
    normal(`${p}.attn.c_attn.bias`, [3 * d]);
    normal(`${p}.attn.c_proj.weight`, [d, d]);
    normal(`${p}.attn.c_proj.bias`, [d]);
    ones(`${p}.ln_2.weight`, [d]);
    normal(`${p}.ln_2.bias`, [d]);
    normal(`${p}.mlp.c_fc.weight`, [d, ff]);
    normal(`${p}.mlp.c_fc.bias`, [ff]);
    normal(`${p}.mlp.c_proj.weight`, [ff, d]);
    normal(`${p}.mlp.c_proj.bias`, [d]);
  }
  ones('ln_f.weight', [d]);
  normal('ln_f.bias', [d]);
  return out;
}

export function countParams(weights: ReadonlyMap<string, Tensor>): number {
  let n = 0;
  for (const t of weights.values()) n += t.data.length;
  return n;
}
