/**
 * OPT (OPTForCausalLM): learned positions read at position + 2 (OPTLearnedPositionalEmbedding's
 * offset), pre-LN blocks, separate q/k/v/out projections with biases, ReLU MLP, final LayerNorm,
 * head tied to embed_tokens. Checkpoints saved from OPTModel (the facebook/opt-* ones) name weights
 * "decoder.…", those saved from OPTForCausalLM "model.decoder.…".
 */
import { ConfigError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { attention, attentionBias, linear, mergeHeads, splitHeads, WeightLoader } from './common.ts';
import type { BuildOptions, CausalLM, ForwardInputs, ForwardOutputs, KV } from './types.ts';

/** OPTLearnedPositionalEmbedding: row = position + 2 (rows 0 and 1 are never a real position). */
export const OPT_POSITION_OFFSET = 2;

const ACTIVATIONS: Record<string, (x: Value) => Value> = {
  relu: op.relu,
  gelu: op.geluErf,
  gelu_new: op.geluTanh,
};

export function optWeightPrefix(store: Pick<WeightStore, 'has'>): string {
  return store.has('model.decoder.embed_tokens.weight') ? 'model.decoder.' : 'decoder.';
}

/**
 * The rows of embed_positions the S new slots read. HF derives positions from the mask,
 * cumsum(mask)·mask − 1 over all P+S slots, so a padded slot reads row 1; at real slots that is
 * the position_ids feed (which, unlike the mask, also knows packed continuations), so take the feed
 * there and −1 at padded slots.
 */
export function optPositionRows(positionIds: Value, attentionMask: Value, S: Value): Value {
  const one = attentionMask.graph.scalar(1, 'int64');
  const M = op.gather(op.shapeOf(attentionMask), one);
  const fresh = op.gather(attentionMask, op.range(op.sub(M, S), M, positionIds.shape[1]!), 1); // [B, S]
  return op.add(op.where(op.equal(fresh, 1), positionIds, -1), OPT_POSITION_OFFSET);
}

interface OptLayer {
  ln1w: Value; ln1b: Value; ln2w: Value; ln2b: Value;
  qW: Value; qB: Value; kW: Value; kB: Value; vW: Value; vB: Value; oW: Value; oB: Value;
  fc1W: Value; fc1B: Value; fc2W: Value; fc2B: Value;
}

export function buildOpt(g: Graph, config: ModelConfig, store: WeightStore, opts: BuildOptions = {}): CausalLM {
  const dtype = opts.dtype ?? 'float32';
  const { hiddenSize: d, numHeads: H, headDim: hd, intermediateSize: ff, vocabSize: V } = config;
  const act = ACTIVATIONS[config.activation];
  if (!act) throw new ConfigError('config.json', 'activation_function', `"${config.activation}" is not supported for opt (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const pre = optWeightPrefix(store);
  const w = new WeightLoader(g, store, dtype);
  const embed = w.get(`${pre}embed_tokens.weight`, [V, d]);
  const positions = w.get(`${pre}embed_positions.weight`, [config.maxPositions + OPT_POSITION_OFFSET, d]);
  const layers: OptLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `${pre}layers.${l}`;
    const lin = (name: string, out: number, inp: number): [Value, Value] => [w.linear(`${p}.${name}.weight`, out, inp), w.get(`${p}.${name}.bias`, [out])];
    const [qW, qB] = lin('self_attn.q_proj', d, d);
    const [kW, kB] = lin('self_attn.k_proj', d, d);
    const [vW, vB] = lin('self_attn.v_proj', d, d);
    const [oW, oB] = lin('self_attn.out_proj', d, d);
    const [fc1W, fc1B] = lin('fc1', ff, d);
    const [fc2W, fc2B] = lin('fc2', d, ff);
    layers.push({
      ln1w: w.get(`${p}.self_attn_layer_norm.weight`, [d]), ln1b: w.get(`${p}.self_attn_layer_norm.bias`, [d]),
      ln2w: w.get(`${p}.final_layer_norm.weight`, [d]), ln2b: w.get(`${p}.final_layer_norm.bias`, [d]),
      qW, qB, kW, kB, vW, vB, oW, oB, fc1W, fc1B, fc2W, fc2B,
    });
  }
  const lnfW = w.get(`${pre}final_layer_norm.weight`, [d]);
  const lnfB = w.get(`${pre}final_layer_norm.bias`, [d]);
  const head = config.tieWordEmbeddings ? op.transpose(embed, [1, 0]) : w.linear('lm_head.weight', V, d);
  const eps = config.normEps;

  return {
    config,
    graph: g,
    dtype,
    embedTokens: (ids) => op.gather(embed, ids),
    lmHead: (hidden) => op.matmul(hidden, head),
    forward({ embeds, positionIds, attentionMask, past, segmentIds }: ForwardInputs): ForwardOutputs {
      const bias = attentionBias(embeds, attentionMask, dtype, segmentIds);
      const S = op.gather(op.shapeOf(embeds), g.scalar(1, 'int64'));
      let x = op.add(embeds, op.gather(positions, optPositionRows(positionIds, attentionMask, S)));
      const present: KV[] = [];
      // Each layer is a segment, so training can recompute it (Graph.segment).
      layers.forEach((L, l) => g.segment(() => {
        const h = op.layerNorm(x, L.ln1w, L.ln1b, eps);
        let k = splitHeads(linear(h, L.kW, L.kB), H, hd);
        let v = splitHeads(linear(h, L.vW, L.vB), H, hd);
        if (past) {
          k = op.concat([past[l]!.key, k], 2);
          v = op.concat([past[l]!.value, v], 2);
        }
        present.push({ key: k, value: v });
        const a = mergeHeads(attention(splitHeads(linear(h, L.qW, L.qB), H, hd), k, v, bias, H, H, hd), H, hd);
        x = op.add(x, linear(a, L.oW, L.oB));
        const m = op.layerNorm(x, L.ln2w, L.ln2b, eps);
        x = op.add(x, linear(act(linear(m, L.fc1W, L.fc1B)), L.fc2W, L.fc2B));
      }));
      return { hidden: op.layerNorm(x, lnfW, lnfB, eps), present };
    },
  };
}
