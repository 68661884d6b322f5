/**
 * A saved adapter: PEFT's two files (adapter_config.json + adapter_model.safetensors with
 * `prompt_embeddings`) plus softprompt.json beside them, which holds what PEFT has no field
 * for (template, verbalizer, training arguments, metrics, base-model fingerprint, and the
 * p-tuning encoder weights for resuming). PEFT ignores softprompt.json; softprompt reads
 * adapters without it (e.g. written by PEFT) and then needs --template/--verbalizer.
 */
import type { PeftType } from '../methods/factory.ts';
import type { PromptMethod } from '../methods/types.ts';
import type { MultitaskSourceInit } from '../methods/multitask_init.ts';
import type { PromptInit } from '../methods/init.ts';
import type { Tensor } from '../tensor.ts';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const SOFTPROMPT_FILE = 'softprompt.json';

export type { PeftType } from '../methods/factory.ts';

export type { PromptInit } from '../methods/init.ts';
export type { MultitaskSourceInit } from '../methods/multitask_init.ts';

/** What identifies the frozen model an adapter was trained on. */
export interface BaseModelFingerprint {
  model_type: string;
  hidden_size: number;
  num_layers: number;
  num_attention_heads: number;
  vocab_size: number;
  /** sha256 (hex) over the config's architecture fields and the input-embedding table's bytes. */
  sha256: string;
  /** Where it was loaded from when trained (informational; base_model_name_or_path in PEFT's config). */
  path?: string;
}

/** softprompt.json: everything an adapter needs beyond PEFT's files. All fields optional on read. */
export interface SoftpromptMeta {
  format: 'softprompt';
  version: 1;
  template?: { source: string; instruction?: string };
  verbalizer?: Record<string, string>;
  label_field?: string;
  /** The training arguments as given (CLI flags / config file, after defaults). */
  training?: Record<string, unknown>;
  /** Dev/validation metrics of the saved params, e.g. { accuracy, macro_f1, n, step, epoch }. */
  metrics?: Record<string, unknown>;
  base_model?: BaseModelFingerprint;
  init?: PromptInit;
  /** Multitask prompt tuning: the source adapter it started from, if any (see MultitaskSourceInit). */
  source_init?: MultitaskSourceInit;
  /** Multitask prompt tuning: the name of each task, in task-id order (adapter_config.json has only num_tasks). */
  tasks?: string[];
  /**
   * Multitask prompt tuning with per-task prompts: each task's own template and/or verbalizer
   * (what a task lacks here, it takes from `template` / `verbalizer`).
   */
  task_prompts?: Record<string, { template?: { source: string; instruction?: string }; verbalizer?: Record<string, string> }>;
  /**
   * Trainable tensors that are not the saved prompt_embeddings, so training can resume: the p-tuning
   * encoder (embedding.weight, mlp_head.*, and lstm_head.* for the LSTM) or the prefix projection
   * (embedding.weight, transform.*). Little-endian float32, base64.
   */
  encoder?: Record<string, { shape: number[]; dtype: 'F32'; data_base64: string }>;
}

/** An adapter ready to run: the method, its params for inference, and the metadata. */
export interface LoadedAdapter {
  readonly dir: string;
  readonly peftType: PeftType;
  /**
   * The method to run it with. For p-tuning this is the *inference* view: prompt tuning over the
   * encoder's output; for prefix tuning with projection, prefix tuning over the projected table;
   * multitask prompt tuning runs as itself (per-row task ids; multitaskTaskPrompt gives one task's
   * prompt for plain prompt tuning).
   */
  readonly method: PromptMethod;
  /** Feeds for `method.params` (e.g. { prompt_embeddings }; MPT: embedding.weight, prefix_task_cols, prefix_task_rows). */
  readonly params: Readonly<Record<string, Tensor>>;
  /** The trainable params to resume training (p-tuning, prefix projection: the encoder; others: same as params). */
  readonly trainable: Readonly<Record<string, Tensor>>;
  /**
   * The method whose params are `trainable` (resume training with it): p-tuning (MLP or LSTM) or
   * prefix tuning with projection, with its encoder, when softprompt.json has one; otherwise the
   * same as `method`.
   */
  readonly trainMethod: PromptMethod;
  /** The raw adapter_config.json. */
  readonly peftConfig: Readonly<Record<string, unknown>>;
  readonly meta: SoftpromptMeta | null;
  /**
   * Multitask prompt tuning: the task names by task id, from softprompt.json's `tasks`, or "0".."N-1"
   * for an adapter without them (PEFT records only num_tasks). Absent for the other methods.
   */
  readonly tasks?: readonly string[];
}
