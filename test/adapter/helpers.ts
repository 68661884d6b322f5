/** Shared by the adapter tests: a PEFT-layout adapter folder built by hand, as PEFT writes one. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/formats/safetensors.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';

/**
 * adapter_config.json exactly as PEFT 0.x's save_pretrained writes it for
 * PromptTuningConfig(task_type="CAUSAL_LM", prompt_tuning_init="TEXT", ...) on stories260K:
 * asdict(config) with inference_mode set to True, json.dumps(indent=2, sort_keys=True), and the
 * sizes PEFT's _prepare_prompt_learning_config filled in from the model's config.json.
 */
export function peftPromptTuningConfig(n: number): Record<string, unknown> {
  return {
    auto_mapping: null,
    base_model_name_or_path: 'stories260K',
    inference_mode: true,
    num_attention_heads: 8,
    num_layers: 5,
    num_transformer_submodules: 1,
    num_virtual_tokens: n,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: 'TEXT',
    prompt_tuning_init_text: 'Is the story about a girl or a boy?',
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: 64,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: 'stories260K',
  };
}

/** Deterministic values in (-1, 1). */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2 ** 31 - 1;
  }
  return out;
}

/** Writes a PEFT-layout adapter: adapter_config.json + adapter_model.safetensors ({"format": "pt"} metadata). */
export function writePeftAdapter(dir: string, config: Record<string, unknown>, tensors: Record<string, Tensor>): void {
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, Object.keys(config).sort(), 2));
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
}

/** A PROMPT_TUNING adapter for stories260K with n virtual tokens; returns its prompt_embeddings. */
export function writePeftPromptTuning(dir: string, n: number, edit: (c: Record<string, unknown>) => void = () => {}): Tensor<'float32'> {
  const pe = tensor('float32', [n, 64], values(n * 64, 42));
  const config = peftPromptTuningConfig(n);
  edit(config);
  writePeftAdapter(dir, config, { prompt_embeddings: pe });
  return pe;
}
