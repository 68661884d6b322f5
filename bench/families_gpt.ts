/**
 * `--only families`, GPT-style part: one prompt-tuning training step per family at the real
 * config of its smallest public model (random weights), so a slow op in one family shows as a low
 * fraction of the chained MatMul roofline. The configs are the published config.json files
 * (test/formats/hub_configs.test.ts checks them against test/fixtures/hub_configs/); BLOOM keeps 6 of bloomz-560m's 24 layers
 * and a batch of 4, because its 250,880-token head dominates the step and its logits alone are
 * 0.5 GB per 512 tokens.
 */
import type { ModelConfig } from '../src/formats/hf_config.ts';
import { parseHfConfig } from '../src/formats/hf_config.ts';
import { randomWeightStore } from './random_weights.ts';
import { benchPromptTuning } from './train_prompt_tuning.ts';
import type { TrainBenchResult } from './train_prompt_tuning.ts';

export interface FamilyShape {
  /** Hub id whose config this is. */
  readonly hub: string;
  /** Short key for the JSON output. */
  readonly key: string;
  readonly raw: Record<string, unknown>;
  readonly batch?: number;
  /** Layers kept, when fewer than the model has. */
  readonly layers?: number;
}

export const GPT_FAMILY_SHAPES: readonly FamilyShape[] = [
  {
    hub: 'EleutherAI/pythia-160m',
    key: 'gpt_neox.pythia-160m',
    raw: {
      model_type: 'gpt_neox', vocab_size: 50304, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072,
      hidden_act: 'gelu', rotary_pct: 0.25, rotary_emb_base: 10000, max_position_embeddings: 2048, layer_norm_eps: 1e-5,
      use_parallel_residual: true, tie_word_embeddings: false, bos_token_id: 0, eos_token_id: 0,
    },
  },
  {
    hub: 'facebook/opt-125m',
    key: 'opt.opt-125m',
    raw: {
      model_type: 'opt', vocab_size: 50272, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, ffn_dim: 3072,
      activation_function: 'relu', max_position_embeddings: 2048, do_layer_norm_before: true, word_embed_proj_dim: 768,
      bos_token_id: 2, eos_token_id: 2, pad_token_id: 1,
    },
  },
  {
    hub: 'bigscience/bloomz-560m',
    key: 'bloom.bloomz-560m',
    raw: {
      // bloomz-560m's own names: n_embed and num_attention_heads (bloom-560m writes hidden_size and n_head).
      model_type: 'bloom', vocab_size: 250880, n_embed: 1024, n_layer: 24, num_attention_heads: 16, layer_norm_epsilon: 1e-5,
      seq_length: 2048, apply_residual_connection_post_layernorm: false, bos_token_id: 1, eos_token_id: 2, pad_token_id: 3,
    },
    batch: 4,
    layers: 6,
  },
];

export function familyConfig(s: FamilyShape): ModelConfig {
  const c = parseHfConfig(s.raw, `${s.hub} config.json`);
  if (s.layers === undefined) return c;
  // The RMSNorm decoders build one layer per entry of their per-layer spec: keep the first ones.
  return { ...c, numLayers: s.layers, ...(c.decoder ? { decoder: { ...c.decoder, layers: c.decoder.layers.slice(0, s.layers) } } : {}) };
}

export async function benchFamily(s: FamilyShape, opts: { steps: number; warmup: number; threads?: number }): Promise<TrainBenchResult> {
  return benchPromptTuning({
    config: familyConfig(s),
    steps: opts.steps,
    warmup: opts.warmup,
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(s.batch !== undefined ? { batch: s.batch } : {}),
    randomWeights: (rng) => {
      const store = randomWeightStore(rng);
      return { store, count: () => [...store.made.values()].reduce((n, t) => n + t.data.length, 0) };
    },
  });
}
