/**
 * `--only families`, RMSNorm-decoder part: the real config.json of the smallest public model of each
 * family, in the layout the hub files use (rope_theta / rope_scaling; Gemma 3's layer_types), with
 * random weights. test/formats/hub_configs.test.ts checks every value that shapes the model against
 * the published config.json (test/fixtures/hub_configs/).
 * Depth is reduced where the full model would not fit or would take minutes per step on a CPU, and the
 * batch is 4 where a 128k-262k vocabulary makes the head dominate (its logits alone are ~0.5 GB per
 * 512 tokens). Every model keeps its real width, heads, vocabulary and attention pattern.
 */
import type { FamilyShape } from './families_gpt.ts';

export const DECODER_FAMILY_SHAPES: readonly FamilyShape[] = [
  {
    hub: 'HuggingFaceTB/SmolLM2-135M',
    key: 'llama.smollm2-135m',
    raw: {
      model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
      num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true,
      hidden_act: 'silu', bos_token_id: 0, eos_token_id: 0,
    },
  },
  {
    hub: 'meta-llama/Llama-3.2-1B',
    key: 'llama3.llama-3.2-1b',
    raw: {
      model_type: 'llama', vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
      num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
      rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      tie_word_embeddings: true, hidden_act: 'silu', bos_token_id: 128000, eos_token_id: 128001,
    },
    batch: 4,
    layers: 4,
  },
  {
    hub: 'Qwen/Qwen2.5-0.5B',
    key: 'qwen2.qwen2.5-0.5b',
    raw: {
      model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
      num_key_value_heads: 2, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true,
      use_sliding_window: false, sliding_window: 32768, max_window_layers: 24, hidden_act: 'silu', bos_token_id: 151643, eos_token_id: 151643,
    },
    batch: 4,
    layers: 12,
  },
  {
    hub: 'Qwen/Qwen3-0.6B',
    key: 'qwen3.qwen3-0.6b',
    raw: {
      model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
      num_key_value_heads: 8, head_dim: 128, max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true,
      use_sliding_window: false, sliding_window: null, max_window_layers: 28, attention_bias: false, hidden_act: 'silu',
      bos_token_id: 151643, eos_token_id: 151645,
    },
    batch: 4,
    layers: 8,
  },
  {
    hub: 'mistralai/Mistral-7B-v0.1',
    key: 'mistral.mistral-7b-v0.1',
    raw: {
      model_type: 'mistral', vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, max_position_embeddings: 32768, rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: 4096,
      tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2,
    },
    batch: 2,
    layers: 1,
  },
  {
    hub: 'google/gemma-3-270m',
    key: 'gemma3_text.gemma-3-270m',
    raw: {
      model_type: 'gemma3_text', vocab_size: 262144, hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 256, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, rope_local_base_freq: 10000,
      rope_scaling: null, sliding_window: 512, _sliding_window_pattern: 6, query_pre_attn_scalar: 256, hidden_activation: 'gelu_pytorch_tanh',
      // Every 6th layer global, as the published config lists them.
      layer_types: Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention')),
      attn_logit_softcapping: null, final_logit_softcapping: null, tie_word_embeddings: true, bos_token_id: 2, eos_token_id: 1,
    },
    batch: 4,
  },
  {
    hub: 'microsoft/Phi-3-mini-4k-instruct',
    key: 'phi3.phi-3-mini-4k',
    raw: {
      model_type: 'phi3', vocab_size: 32064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 32, max_position_embeddings: 4096, original_max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000,
      rope_scaling: null, sliding_window: 2047, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 32000,
    },
    batch: 4,
    layers: 2,
  },
];
