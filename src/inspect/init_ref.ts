/**
 * The initial values of an adapter's prompt, recomputed from what it records: the init
 * (softprompt.json `init`, else its training `init` flag, else PEFT's prompt_tuning_init TEXT in
 * adapter_config.json) and the seed (softprompt.json training.seed). initParams is deterministic
 * in (init, seed, model, tokenizer), so this is the exact tensor training started from.
 */
import { pTuningEncoderOutput } from '../adapter/encoder.ts';
import { adapterPrompt } from '../adapter/prompt.ts';
import type { LoadedAdapter, PromptInit } from '../adapter/types.ts';
import type { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { formatInit, initParams, parseInit } from '../methods/init.ts';
import type { InitTokenizer } from '../methods/init.ts';
import type { Tensor } from '../tensor.ts';

export interface InitModel {
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  readonly tokenizer: InitTokenizer;
}

/** Where the init came from and, when it could be recomputed, its values [n, width]. */
export interface InitReference {
  /** The init as the CLI writes it, e.g. text:"Is the story about a girl or a boy?". */
  readonly spec: string;
  /** The file and field it was read from. */
  readonly source: string;
  readonly seed: number | null;
  /** The recomputed prompt (for p-tuning, the encoder's output at init); absent with `unavailable`. */
  readonly values?: Tensor<'float32'>;
  /** Why the values could not be recomputed. */
  readonly unavailable?: string;
}

function recordedSpec(adapter: LoadedAdapter): { init: PromptInit; source: string } | null {
  const meta = adapter.meta;
  if (meta?.init) return { init: meta.init, source: 'softprompt.json init' };
  const flag = meta?.training?.['init'];
  if (typeof flag === 'string') {
    try {
      return { init: parseInit(flag), source: 'softprompt.json training.init' };
    } catch {
      return null; // an init we cannot read is reported as "not recorded"
    }
  }
  const c = adapter.peftConfig;
  if (adapter.peftType === 'PROMPT_TUNING' && c['prompt_tuning_init'] === 'TEXT' && typeof c['prompt_tuning_init_text'] === 'string' && c['prompt_tuning_init_text'] !== '') {
    // PEFT's TEXT init is tokenizer(text) repeated or cut to n: the same as ours, and needs no seed.
    return { init: { kind: 'text', text: c['prompt_tuning_init_text'] }, source: 'adapter_config.json prompt_tuning_init_text' };
  }
  return null;
}

/** The recorded init of `adapter`, recomputed on `model`; null when nothing records it. */
export function initReference(adapter: LoadedAdapter, model: InitModel): InitReference | null {
  const rec = recordedSpec(adapter);
  if (!rec) return null;
  const { init, source } = rec;
  const seedValue = adapter.meta?.training?.['seed'];
  const seed = typeof seedValue === 'number' && Number.isSafeInteger(seedValue) ? seedValue : null;
  const base = { spec: formatInit(init), source, seed };
  // Only text draws nothing from the random stream; every other init needs the seed.
  if (seed === null && init.kind !== 'text') return { ...base, unavailable: 'softprompt.json records no training.seed, so the random draws cannot be repeated' };

  const kind = adapter.trainMethod.kind;
  if (adapter.peftType === 'P_TUNING' && kind !== 'p_tuning') {
    return { ...base, unavailable: 'softprompt.json holds no p-tuning encoder, so the encoder\'s shape (and its init) is unknown' };
  }
  try {
    let verbalizer: Verbalizer | undefined;
    let labelPrompt: string | undefined;
    if (init.kind === 'labels') {
      const recorded = adapterPrompt(adapter);
      const template = recorded.template;
      verbalizer = recorded.verbalizer;
      if (!verbalizer || !template) return { ...base, unavailable: 'the labels init needs the verbalizer and template, and softprompt.json lacks them' };
      // As train does: the continuation ids as they follow the template with empty fields.
      labelPrompt = template.renderWithSlots(Object.fromEntries(template.fields.map((f) => [f, '']))).text;
    }
    const values = initParams(model.config, adapter.trainMethod, {
      seed: seed ?? 0,
      init,
      weights: model.weights,
      tokenizer: model.tokenizer,
      ...(verbalizer ? { verbalizer } : {}),
      ...(labelPrompt !== undefined ? { labelPrompt } : {}),
    });
    // The trained tensor itself, or (p-tuning) the encoder's output, which is what PEFT saves.
    const prompt = values['prompt_embeddings'] ?? (kind === 'p_tuning' ? pTuningEncoderOutput(values) : undefined);
    if (!prompt) return { ...base, unavailable: `the init of a ${kind} encoder is not something inspect can recompute` };
    return { ...base, values: prompt };
  } catch (e) {
    if (e instanceof SoftpromptError) return { ...base, unavailable: e.message };
    throw e;
  }
}
