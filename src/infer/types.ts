/**
 * The inference engine's public shape: what infer/ implements and serve/ and the CLI call.
 * One frozen model, many named tasks (adapters). Each task becomes a KV prefix computed once;
 * a batch may mix tasks, virtual-token counts and rows with no task.
 */
import type { PromptLogprobs, TokenLogprob } from './logprobs.ts';
export type { PromptLogprobs, TokenLogprob, TopLogprob } from './logprobs.ts';

/** Sampling settings of one request. temperature 0 (the default) is greedy. */
export interface SamplingOptions {
  /** New tokens to generate at most (>= 1). */
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of this request's sampler (same seed, same request → same text). */
  seed?: number;
  /** Stop before any of these strings (the stop string itself is not returned). */
  stop?: readonly string[];
  /** Stop at the model's EOS token (default true). */
  stopAtEos?: boolean;
  /** More token ids that end generation as EOS does (chat templates' end-of-turn tokens). */
  stopTokenIds?: readonly number[];
  /** Added to the logits of these token ids before picking (OpenAI's logit_bias, -100..100). */
  logitBias?: Readonly<Record<number, number>>;
  /** Subtracted from a token's logit once per time it was generated already (OpenAI's definition). */
  frequencyPenalty?: number;
  /** Subtracted from a token's logit once it was generated at all. */
  presencePenalty?: number;
  /** Return each generated token's log-probability with this many best alternatives (0: the token's only). */
  logprobs?: number;
}

export interface GenerateRequest extends SamplingOptions {
  /** Adapter name from the registry, or null for the bare base model. */
  task: string | null;
  /** Text (tokenized with the tokenizer's special tokens, e.g. BOS), or token ids used as given. */
  prompt: string | readonly number[];
}

export type FinishReason = 'length' | 'stop' | 'eos';

export interface GenerateResult {
  text: string;
  /** The generated token ids (without the prompt). */
  ids: number[];
  promptTokens: number;
  finishReason: FinishReason;
  /** With `logprobs` set: one entry per id of `ids`. */
  logprobs?: TokenLogprob[];
}

/** A streamed piece of one request's output. */
export interface GenerateChunk {
  text: string;
  ids: number[];
  /** Present on the last chunk. */
  finishReason?: FinishReason;
  /** With `logprobs` set: one entry per id of `ids`. */
  logprobs?: TokenLogprob[];
  /** On the last chunk: the prompt's length in tokens. */
  promptTokens?: number;
}

/** Log-probabilities of a prompt's own tokens (OpenAI's echo with logprobs). */
export interface ScoreRequest {
  task: string | null;
  /** Text (tokenized as for generation) or token ids used as given. */
  prompt: string | readonly number[];
  /** Best alternatives per position (0: none). */
  topK: number;
}

/** Tokens for /tokenize and chat templates. */
export interface TokenizeOptions {
  /** Add the tokenizer's special tokens (BOS) as a text prompt gets them. Default true. */
  addSpecialTokens?: boolean;
}

export interface DetokenizeOptions {
  /** Ids decoded before `ids` (not returned), so a leading space or a split character comes out right. */
  context?: readonly number[];
  /** Per token, ids of alternatives at its position, whose strings to return (as they would read there). */
  alternatives?: readonly (readonly number[] | null)[];
  /** Leave special tokens (BOS, EOS) out of the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface Detokenized {
  text: string;
  /** Each token's piece of `text` (they join to it; a token inside a multibyte character gets ''). */
  tokens: string[];
  /** Where each token's piece starts in `text`, in UTF-16 code units. */
  offsets: number[];
  /** The alternatives' strings, when asked for. */
  alternatives: (string[] | null)[];
}

/** What the server needs to know of the tokenizer (chat templates, token strings). */
export interface TokenizerInfo {
  bosToken: string | null;
  eosToken: string | null;
  eosTokenId: number | null;
  /** tokenizer_config.json's chat_template (the default one when it is a list), or null. */
  chatTemplate: string | null;
  /** Special tokens by content (added tokens marked special), for end-of-turn stops. */
  specialTokens: Readonly<Record<string, number>>;
  /** generation_config.json's eos_token_id list (when given). */
  generationEosIds: readonly number[];
  vocabSize: number;
  /** Positions the model takes at most (prefix included). */
  maxPositions: number;
}

export interface ClassifyRequest {
  task: string | null;
  /** The input: a record for the task's template (e.g. { text: "..." }) or plain text for the `text` field. */
  input: string | Readonly<Record<string, string>>;
  /** Labels → continuation; default the adapter's verbalizer (softprompt.json). */
  verbalizer?: Readonly<Record<string, string>>;
  /** Template; default the adapter's. */
  template?: string;
}

export interface ClassifyResult {
  label: string;
  /** Summed log-probability of each label's continuation, in verbalizer order. */
  scores: Record<string, number>;
}

export interface TaskInfo {
  name: string;
  /** prompt_tuning | p_tuning | prefix_tuning */
  method: string;
  numVirtualTokens: number;
  /** Where the adapter was loaded from. */
  dir: string;
  /**
   * The adapter's template has {soft:N} slots: classify puts the virtual tokens there, generation
   * (completions, chat, echo scores) before the prompt, so those scores differ from eval's.
   */
  slotted?: boolean;
}

export interface GenerateOptions {
  /** Per request, an optional signal that abandons it (the server's timeout, a client gone). */
  readonly signals?: readonly (AbortSignal | undefined)[];
}

/** The engine. Implementations batch internally; calls may overlap. */
export interface InferenceEngine {
  /** The base model's name (its folder's basename) and every loaded task. */
  readonly baseModel: string;
  /** The tokenizer's special tokens and chat template. */
  readonly tokenizerInfo: TokenizerInfo;
  tasks(): TaskInfo[];
  /** Runs the requests as one or more mixed-task batches; results in request order. */
  generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]>;
  /**
   * The same, where request i stops decoding (at its next token) once `signals[i]` aborts, and its
   * entry is then null; the other requests of the call are not disturbed.
   */
  generate(requests: readonly GenerateRequest[], options: GenerateOptions): Promise<(GenerateResult | null)[]>;
  /** Streams one request's tokens as they are decoded. */
  generateStream(request: GenerateRequest): AsyncIterable<GenerateChunk>;
  classify(requests: readonly ClassifyRequest[]): Promise<ClassifyResult[]>;
  /**
   * The same, where request i stops (at its next encoding or scoring step, freeing the engine) once
   * `signals[i]` aborts, and its entry is then null.
   */
  classify(requests: readonly ClassifyRequest[], options: GenerateOptions): Promise<(ClassifyResult | null)[]>;
  /**
   * Log-probabilities of each request's prompt tokens (the first null), without a vocabulary-wide
   * array. An aborted `signal` stops it before the next prompt.
   */
  score(requests: readonly ScoreRequest[], options?: { readonly signal?: AbortSignal }): Promise<PromptLogprobs[]>;
  /** The ids a text prompt becomes (BOS included by default, as generate does). */
  tokenize(text: string, options?: TokenizeOptions): Promise<number[]>;
  /** Token ids back to text, with each token's piece and offset (see {@link DetokenizeOptions}). */
  detokenize(ids: readonly number[], options?: DetokenizeOptions): Promise<Detokenized>;
  /** Frees the ORT sessions. */
  close(): Promise<void>;
  /** Why the engine can no longer serve (its worker thread died), or null; absent: it cannot fail so. */
  failure?(): string | null;
}
