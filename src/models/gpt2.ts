/**
 * GPT-2 (GPT2LMHeadModel, also distilgpt2): learned positions, pre-LN blocks, fused
 * c_attn split q|k|v, Conv1D weights stored [in, out], gelu_new, head tied to wte.
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import type { BuildOptions, CausalLM, ForwardInputs, ForwardOutputs, KV } from './types.ts';

const ACTIVATIONS: Record<string, (x: Value) => Value> = {
  gelu_new: op.geluTanh,
  gelu_pytorch_tanh: op.geluTanh,
  relu: op.relu,
};

interface Gpt2Layer {
  ln1w: Value; ln1b: Value;
  attnW: Value; attnB: Value; projW: Value; projB: Value;
  ln2w: Value; ln2b: Value;
  fcW: Value; fcB: Value; fcProjW: Value; fcProjB: Value;
}

/** Checkpoints saved from GPT2LMHeadModel prefix every name with "transformer."; the original ones do not. */
export function gpt2WeightPrefix(store: Pick<WeightStore, 'has'>): string {
  return store.has('transformer.wte.weight') ? 'transformer.' : '';
}

export function buildGpt2(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const dtype = opts.dtype ?? 'float32';
  const { hiddenSize: d, numHeads: H, headDim: hd, intermediateSize: ff, vocabSize: V } = config;
  const act = ACTIVATIONS[config.activation];
  if (!act) {
    throw new ConfigError('config.json', 'activation_function', `"${config.activation}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  const pre = gpt2WeightPrefix(store);
  const w = new WeightLoader(g, store, dtype);
  const wte = w.get(`${pre}wte.weight`, [V, d]);
  const wpe = w.get(`${pre}wpe.weight`, [config.maxPositions, d]);
  const layers: Gpt2Layer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${pre}h.${l}`;
    layers.push({
      ln1w: w.get(`${p}.ln_1.weight`, [d]), ln1b: w.get(`${p}.ln_1.bias`, [d]),
      attnW: w.get(`${p}.attn.c_attn.weight`, [d, 3 * d]), attnB: w.get(`${p}.attn.c_attn.bias`, [3 * d]),
      projW: w.get(`${p}.attn.c_proj.weight`, [d, d]), projB: w.get(`${p}.attn.c_proj.bias`, [d]),
      ln2w: w.get(`${p}.ln_2.weight`, [d]), ln2b: w.get(`${p}.ln_2.bias`, [d]),
      fcW: w.get(`${p}.mlp.c_fc.weight`, [d, ff]), fcB: w.get(`${p}.mlp.c_fc.bias`, [ff]),
      fcProjW: w.get(`${p}.mlp.c_proj.weight`, [ff, d]), fcProjB: w.get(`${p}.mlp.c_proj.bias`, [d]),
    });
  }
  const lnfW = w.get(`${pre}ln_f.weight`, [d]);
  const lnfB = w.get(`${pre}ln_f.bias`, [d]);
  const head = config.tieWordEmbeddings ? op.transpose(wte, [1, 0]) : w.linear('lm_head.weight', V, d);
  const eps = config.normEps;

  return {
    config,
    graph: g,
    dtype,
    embedTokens: (ids) => op.gather(wte, ids),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const bias = attentionBias(embeds, attentionMask, dtype, segmentIds);
      let x = op.add(embeds, op.gather(wpe, positionIds));
      const present: KV[] = [];
      // Each layer is a segment, so training can recompute it (Graph.segment).
      layers.forEach((L, l) => g.segment(() => {
        const h = op.layerNorm(x, L.ln1w, L.ln1b, eps);
        const [q, k0, v0] = op.split(linear(h, L.attnW, L.attnB), -1, [d, d, d]);
        let k = splitHeads(k0!, H, hd);
        let v = splitHeads(v0!, H, hd);
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        const a = mergeHeads(attention(splitHeads(q!, H, hd), k, v, bias, H, H, hd), H, hd);
        x = op.add(x, linear(a, L.projW, L.projB));
        const m = op.layerNorm(x, L.ln2w, L.ln2b, eps);
        x = op.add(x, linear(act(linear(m, L.fcW, L.fcB)), L.fcProjW, L.fcProjB));
      }));
      return { hidden: op.layerNorm(x, lnfW, lnfB, eps), present };
    },
  };
}
