/**
 * Initial values of a method's trainable tensors, seeded, following PEFT:
 *
 * - prompt tuning (PromptEmbedding): `random` is torch nn.Embedding's default N(0, 1); `vocab`
 *   (PEFT SAMPLE_VOCAB) copies the input-embedding rows of n ids drawn uniformly from the
 *   vocabulary; `text` (PEFT TEXT) copies the rows of tokenizer(text) — special tokens included,
 *   e.g. BOS for Llama — cut to n or repeated cyclically; `labels` (ours) starts with the rows of
 *   the verbalizer's continuation tokens and pads with vocabulary samples.
 * - p-tuning (PromptEncoder): embedding.weight ~ N(0, 1); every nn.Linear weight and bias
 *   ~ U(-1/√fan_in, 1/√fan_in), which is what kaiming_uniform_(a=√5) gives for the weight; with
 *   the LSTM encoder every nn.LSTM weight and bias ~ U(-1/√h, 1/√h), h its hidden size.
 * - prefix tuning (PrefixEncoder): without projection the table ~ N(0, 1), an nn.Embedding; with
 *   it embedding.weight ~ N(0, 1) and the transform's nn.Linear layers as above.
 *
 * - multitask prompt tuning (MultitaskPromptEmbedding): the shared embedding.weight as prompt
 *   tuning's (any init above); prefix_task_cols and prefix_task_rows ~ N(0, 0.02²). Starting from a
 *   source adapter (PEFT's AVERAGE_SOURCE_TASKS, EXACT_SOURCE_TASK, ONLY_SOURCE_SHARED) is
 *   multitask_init.ts, over these values.
 *
 * All randomness comes from one createRng(seed) stream, consumed in `method.params` order, so
 * equal seeds give equal tensors. The values cannot equal torch's (a different generator); the
 * distributions are the same.
 */
import { SoftpromptError } from '../errors.ts';
import { createRng, randomInt } from '../data/rng.ts';
import type { Rng } from '../data/rng.ts';
import type { Verbalizer } from '../data/verbalizer.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { gpt2WeightPrefix } from '../models/gpt2.ts';
import { optWeightPrefix } from '../models/opt.ts';
import { bloomWeightPrefix } from '../models/bloom.ts';
import type { Tensor } from '../tensor.ts';
import { numel, tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { PromptMethod } from './types.ts';

/** How prompt-tuning embeddings were initialised (PEFT's prompt_tuning_init plus our LABELS). */
export type PromptInit =
  | { kind: 'random' }
  | { kind: 'vocab' }
  | { kind: 'text'; text: string }
  | { kind: 'labels' };


/** A bad init spec or an init that cannot be computed (empty text, n < 1, missing tokenizer, ...). */
export class InitError extends SoftpromptError {}

/** Most float32 values one trainable tensor may hold (4 GiB): past it allocation fails or exhausts memory. */
export const MAX_PARAM_VALUES = 2 ** 30;

const FORMS_HELP = 'valid forms: random | vocab | labels | text:"some text" (quotes optional, e.g. text:Classify the story)';

/** Parses a CLI init spec: `random`, `vocab`, `labels`, `text:"…"` or `text:…`. */
export function parseInit(spec: string): PromptInit {
  const s = spec.trim();
  if (s === 'random' || s === 'vocab' || s === 'labels') return { kind: s };
  if (s.startsWith('text:')) {
    // Unquoted, everything after "text:" is the text (spaces included: they change GPT-2's tokens).
    // Quoted, JSON escapes work (\" \n \u00e9); a value JSON cannot parse loses just its quotes.
    let text = spec.trimStart().slice(5);
    const quoted = text.trim();
    if (quoted.length >= 2 && quoted.startsWith('"') && quoted.endsWith('"')) {
      try {
        text = JSON.parse(quoted) as string;
      } catch {
        text = quoted.slice(1, -1);
      }
    }
    if (text.length === 0) throw new InitError(`init "${spec}": the text is empty; ${FORMS_HELP}`);
    return { kind: 'text', text };
  }
  throw new InitError(`unknown init ${JSON.stringify(spec)}; ${FORMS_HELP}`);
}

/** The inverse of {@link parseInit} (text is always quoted, JSON-escaped). */
export function formatInit(init: PromptInit): string {
  return init.kind === 'text' ? `text:${JSON.stringify(init.text)}` : init.kind;
}

/**
 * The HF name of the input-embedding table, resolved as src/models does: GPT-2 checkpoints saved
 * from GPT2LMHeadModel prefix names with "transformer.", the original ones do not; Llama uses
 * model.embed_tokens.weight.
 */
export function inputEmbeddingName(config: ModelConfig, weights: WeightStore): string {
  switch (config.modelType) {
    case 'gpt2': return `${gpt2WeightPrefix(weights)}wte.weight`;
    case 'llama': case 'qwen2': case 'qwen3': case 'mistral': case 'gemma3_text': case 'phi3': return 'model.embed_tokens.weight';
    case 'gpt_neox': return 'gpt_neox.embed_in.weight';
    case 'opt': return `${optWeightPrefix(weights)}embed_tokens.weight`;
    case 'bloom': return `${bloomWeightPrefix(weights)}word_embeddings.weight`;
  }
}

/**
 * The input embeddings [V, d] as float32, as the model's embedding module returns them (shape
 * checked against the config): Gemma's are the stored table × √hidden, and PEFT's TEXT and
 * SAMPLE_VOCAB inits call that module, so they start scaled (the soft prompt itself is never scaled).
 */
export function inputEmbeddingTable(config: ModelConfig, weights: WeightStore): Tensor<'float32'> {
  const table = weights.get(inputEmbeddingName(config, weights), [config.vocabSize, config.hiddenSize]);
  const scale = Math.fround(config.decoder?.embedScale ?? 1); // torch multiplies by a float32 scalar
  return scale === 1 ? table : tensor('float32', table.shape, table.data.map((x) => x * scale));
}

/** Fills `out` with N(0, 1) samples (Box–Muller on `rng`, both outputs used). */
function fillNormal(out: Float32Array, rng: Rng): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - rng(); // (0, 1]: log(u1) is finite
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Fills `out` with U(-bound, bound) samples. */
function fillUniform(out: Float32Array, bound: number, rng: Rng): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng() - 1) * bound;
  return out;
}

/** What the tokenizer must offer for `text` and `labels` inits (src/tokenizer's Tokenizer has it). */
export type InitTokenizer = Pick<Tokenizer, 'encode' | 'encodeContinuation' | 'bosTokenId'>;

/** What the verbalizer must offer for the `labels` init (src/data's Verbalizer has it). */
export type InitVerbalizer = Pick<Verbalizer, 'labels' | 'continuation'>;

export interface InitOptions {
  /** The seed of the one random stream all tensors draw from. */
  seed: number;
  /** Prompt-tuning init (also of multitask prompt tuning's shared prompt). Default random. Other methods accept only random. */
  init?: PromptInit;
  /** The frozen model's weights: needed by vocab, text and labels. */
  weights?: WeightStore;
  /** Needed by text and labels. */
  tokenizer?: InitTokenizer;
  /** Needed by labels. */
  verbalizer?: InitVerbalizer;
  /**
   * labels: the text each continuation is tokenized after (Tokenizer.encodeContinuation), so its
   * ids are those the model sees after a prompt rather than those of the text alone (for
   * sentencepiece " girl" alone would get a spurious "▁"). Default "\n", a boundary no tokenizer
   * we support merges across. Pass a rendered template to match training exactly.
   */
  labelPrompt?: string;
}

/** The token ids the text init copies: tokenizer(text) with special tokens, cut or repeated cyclically to n. */
export function textInitIds(tokenizer: InitTokenizer, text: string, n: number): number[] {
  if (text.length === 0) throw new InitError('text init: the text is empty; give the words the prompt should start from');
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new InitError(`text init: ${JSON.stringify(text)} encodes to no tokens`);
  return Array.from({ length: n }, (_, i) => ids[i % ids.length]!);
}

/**
 * The verbalizer's tokens for the labels init: each label's continuation ids (as they follow
 * `labelPrompt`), in verbalizer order, deduplicated, BOS dropped. Not cut to any length.
 */
export function labelTokenIds(tokenizer: InitTokenizer, verbalizer: InitVerbalizer, labelPrompt = '\n'): number[] {
  const out: number[] = [];
  for (const label of verbalizer.labels) {
    const { continuationIds } = tokenizer.encodeContinuation(labelPrompt, verbalizer.continuation(label));
    for (const id of continuationIds) if (id !== tokenizer.bosTokenId && !out.includes(id)) out.push(id);
  }
  return out;
}

function gatherRows(table: Tensor<'float32'>, ids: readonly number[], what: string): Tensor<'float32'> {
  const [V, d] = table.shape as [number, number];
  const out = new Float32Array(ids.length * d);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new InitError(`${what}: token id ${id} is outside the model's embedding table (0..${V - 1}); is the tokenizer the model's own?`);
    }
    out.set(table.data.subarray(id * d, (id + 1) * d), i * d);
  });
  return tensor('float32', [ids.length, d], out);
}

function need<T>(value: T | undefined, what: string, init: PromptInit): T {
  if (value === undefined) throw new InitError(`${formatInit(init)} init needs the ${what}`);
  return value;
}

/** Prompt-tuning embeddings [n, d] for `init`, drawing from `rng`. */
export function promptEmbeddingsInit(config: ModelConfig, n: number, init: PromptInit, rng: Rng, opts: Omit<InitOptions, 'seed' | 'init'> = {}): Tensor<'float32'> {
  if (!Number.isInteger(n) || n < 1) throw new InitError(`number of virtual tokens must be a positive integer, got ${n}`);
  const d = config.hiddenSize;
  const V = config.vocabSize;
  const sampleVocab = (k: number): number[] => Array.from({ length: k }, () => randomInt(rng, V));
  switch (init.kind) {
    case 'random':
      return tensor('float32', [n, d], fillNormal(new Float32Array(n * d), rng));
    case 'vocab': {
      const table = inputEmbeddingTable(config, need(opts.weights, 'model weights', init));
      return gatherRows(table, sampleVocab(n), 'vocab init');
    }
    case 'text': {
      const ids = textInitIds(need(opts.tokenizer, 'tokenizer', init), init.text, n);
      return gatherRows(inputEmbeddingTable(config, need(opts.weights, 'model weights', init)), ids, 'text init');
    }
    case 'labels': {
      const ids = labelTokenIds(need(opts.tokenizer, 'tokenizer', init), need(opts.verbalizer, 'verbalizer', init), opts.labelPrompt).slice(0, n);
      ids.push(...sampleVocab(n - ids.length));
      return gatherRows(inputEmbeddingTable(config, need(opts.weights, 'model weights', init)), ids, 'labels init');
    }
  }
}

/**
 * Initial values of every tensor in `method.params`, keyed by PEFT name, float32. Prompt tuning (and multitask prompt tuning's shared prompt)
 * honours `opts.init`; p-tuning and prefix tuning (with or without projection) have only PEFT's
 * random init.
 */
export function initParams(config: ModelConfig, method: PromptMethod, opts: InitOptions): Record<string, Tensor<'float32'>> {
  const init = opts.init ?? { kind: 'random' };
  if (method.kind !== 'prompt_tuning' && method.kind !== 'multitask_prompt_tuning' && init.kind !== 'random') {
    throw new InitError(`init "${formatInit(init)}" applies to prompt tuning and multitask prompt tuning only; ${method.kind} starts from PEFT's random init (use init random)`);
  }
  if (!Number.isInteger(method.numVirtualTokens) || method.numVirtualTokens < 1) {
    throw new InitError(`number of virtual tokens must be a positive integer, got ${method.numVirtualTokens}`);
  }
  const rng = createRng(opts.seed);
  const out: Record<string, Tensor<'float32'>> = {};
  for (const p of method.params) {
    const size = numel(p.shape);
    if (!(size <= MAX_PARAM_VALUES)) {
      throw new InitError(
        `${method.kind}: parameter "${p.name}" would hold ${size.toExponential(2)} values [${p.shape.join(', ')}], over the ${MAX_PARAM_VALUES.toExponential(2)} (4 GiB) one tensor may have; ` +
          'choose a smaller --encoder-hidden-size or fewer virtual tokens',
      );
    }
    const residual = method.encoder?.type === 'residual';
    if ((method.kind === 'prompt_tuning' && (!residual || p.name === 'embedding.weight')) || (method.kind === 'multitask_prompt_tuning' && p.name === 'embedding.weight')) {
      out[p.name] = promptEmbeddingsInit(config, p.shape[0]!, init, rng, opts);
    } else if (method.kind === 'multitask_prompt_tuning') {
      // MultitaskPromptEmbedding: prefix_task_cols and prefix_task_rows ~ torch.normal(0, 0.02).
      out[p.name] = tensor('float32', p.shape, fillNormal(new Float32Array(size), rng).map((x) => 0.02 * x));
    } else if (p.name === 'layer_norm.weight' || p.name === 'layer_norm.bias') {
      out[p.name] = tensor('float32', p.shape, new Float32Array(size).fill(p.name.endsWith('.weight') ? 1 : 0)); // nn.LayerNorm
    } else if (LINEAR.test(p.name)) {
      // torch nn.Linear: weight [out, in] and bias share the bound 1/√in.
      const fanIn = p.name.endsWith('.weight') ? p.shape[1]! : linearFanIn(method, p.name);
      out[p.name] = tensor('float32', p.shape, fillUniform(new Float32Array(size), 1 / Math.sqrt(fanIn), rng));
    } else if (p.name.startsWith('lstm_head.')) {
      // torch nn.LSTM.reset_parameters: every weight and bias ~ U(-1/√h, 1/√h).
      out[p.name] = tensor('float32', p.shape, fillUniform(new Float32Array(size), 1 / Math.sqrt(lstmHidden(method)), rng));
    } else {
      out[p.name] = tensor('float32', p.shape, fillNormal(new Float32Array(size), rng)); // nn.Embedding
    }
  }
  return out;
}

/** The nn.Linear layers of PEFT's encoders: PromptEncoder.mlp_head, PrefixEncoder.transform. */
const LINEAR = /^(mlp_head|transform)\.\d+\.(weight|bias)$/;

/** The LSTM's hidden size: weight_hh_l0 is [4h, h]. */
function lstmHidden(method: PromptMethod): number {
  const w = method.params.find((q) => q.name === 'lstm_head.weight_hh_l0');
  if (!w) throw new InitError(`${method.kind}: an LSTM encoder needs "lstm_head.weight_hh_l0" to take its hidden size from`);
  return w.shape[1]!;
}

/** fan_in of the Linear a bias belongs to: the in-features of its weight. */
function linearFanIn(method: PromptMethod, biasName: string): number {
  const weightName = biasName.replace(/\.bias$/, '.weight');
  const w = method.params.find((q) => q.name === weightName);
  if (!w) throw new InitError(`${method.kind}: bias "${biasName}" has no weight "${weightName}" to take fan_in from`);
  return w.shape[1]!;
}
