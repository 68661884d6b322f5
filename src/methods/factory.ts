/**
 * The one place a prompt-learning method is built, keyed by PEFT's peft_type: training, adapter
 * loading, the golden check and inference all come here.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import { multitaskPromptTuning } from './multitask.ts';
import { pTuning } from './p_tuning.ts';
import type { PTuningEncoderType } from './p_tuning.ts';
import { prefixTuning } from './prefix_tuning.ts';
import { promptTuning } from './prompt_tuning.ts';
import type { MethodKind, PromptMethod } from './types.ts';

/** PEFT's names for the methods softprompt trains. */
export type PeftType = 'PROMPT_TUNING' | 'P_TUNING' | 'PREFIX_TUNING' | 'MULTITASK_PROMPT_TUNING';

export const PEFT_TYPES: readonly PeftType[] = ['PROMPT_TUNING', 'P_TUNING', 'PREFIX_TUNING', 'MULTITASK_PROMPT_TUNING'];

/** The graph-level kind each PEFT type builds. */
export const KIND_OF: Readonly<Record<PeftType, MethodKind>> = {
  PROMPT_TUNING: 'prompt_tuning',
  P_TUNING: 'p_tuning',
  PREFIX_TUNING: 'prefix_tuning',
  MULTITASK_PROMPT_TUNING: 'multitask_prompt_tuning',
};

/** What defines a method beyond the model; fields a PEFT type does not use are ignored. */
export interface MethodSpec {
  readonly peftType: PeftType;
  readonly numVirtualTokens: number;
  /** P_TUNING: the encoder's hidden size (default the model's). PREFIX_TUNING with projection: its hidden size (default token_dim). */
  readonly encoderHiddenSize?: number | undefined;
  /** PROMPT_TUNING: residual reparameterisation with this bottleneck width (absent: none). */
  readonly residualHiddenSize?: number | undefined;
  /** P_TUNING: mlp (default) or lstm. */
  readonly encoderType?: PTuningEncoderType | undefined;
  /** P_TUNING with lstm: layers (default 2). */
  readonly encoderNumLayers?: number | undefined;
  /** PREFIX_TUNING: train PEFT's projection MLP instead of the table. */
  readonly prefixProjection?: boolean | undefined;
  /** MULTITASK_PROMPT_TUNING: tasks and the rank of their factors (PEFT's defaults: 1 and 1). */
  readonly numTasks?: number | undefined;
  readonly numRanks?: number | undefined;
}

/** The method `spec` describes for a model of `config`. */
export function createMethod(config: ModelConfig, spec: MethodSpec): PromptMethod {
  const n = spec.numVirtualTokens;
  switch (spec.peftType) {
    case 'PROMPT_TUNING':
      return promptTuning(config, { numVirtualTokens: n, residualHiddenSize: spec.residualHiddenSize });
    case 'P_TUNING':
      return pTuning(config, {
        numVirtualTokens: n,
        encoderHiddenSize: spec.encoderHiddenSize ?? config.hiddenSize,
        encoderType: spec.encoderType ?? 'mlp',
        ...(spec.encoderNumLayers !== undefined ? { encoderNumLayers: spec.encoderNumLayers } : {}),
      });
    case 'PREFIX_TUNING':
      return prefixTuning(config, {
        numVirtualTokens: n,
        projection: spec.prefixProjection === true,
        ...(spec.encoderHiddenSize !== undefined ? { encoderHiddenSize: spec.encoderHiddenSize } : {}),
      });
    case 'MULTITASK_PROMPT_TUNING':
      return multitaskPromptTuning(config, { numVirtualTokens: n, numTasks: spec.numTasks ?? 1, numRanks: spec.numRanks ?? 1 });
  }
}
