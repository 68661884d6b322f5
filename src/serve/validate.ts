/**
 * Request validation by hand (no type coercion: "5" is not a number), so that every 400 names the
 * field at fault in its message and in `param`.
 */
import { badField } from './errors.ts';

export interface CompletionLimits {
  /** The largest max_tokens accepted. */
  readonly maxTokens: number;
  /** Why that is the cap (for the message), e.g. "the server's limit" or "the model's context of 256 tokens". */
  readonly maxTokensWhy: string;
  /** Prompts in one request at most (choices: prompts × best_of). */
  readonly maxPrompts: number;
  /** Token ids run from 0 to vocabSize - 1. */
  readonly vocabSize: number;
  /** Caps on n/best_of, completions' logprobs, chat's top_logprobs and logit_bias entries. */
  readonly caps: OpenAiCaps;
}

/** Caps on request fields (each refusal names the field and its cap). */
export interface OpenAiCaps {
  /** n and best_of at most (default 8). */
  readonly n: number;
  /** Completions' logprobs at most (default 5, as OpenAI). */
  readonly logprobs: number;
  /** Chat's top_logprobs at most (default 20, as OpenAI). */
  readonly topLogprobs: number;
  /** logit_bias entries at most (default 300). */
  readonly logitBias: number;
}

export const DEFAULT_CAPS: OpenAiCaps = { n: 8, logprobs: 5, topLogprobs: 20, logitBias: 300 };

/** Sampling and output fields completions and chat share. */
export interface SamplingParams {
  model: string;
  maxTokens: number;
  n: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
  logitBias?: Record<number, number>;
  frequencyPenalty?: number;
  presencePenalty?: number;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with usage and no choices. */
  includeUsage: boolean;
}

export interface CompletionParams extends SamplingParams {
  /** Text, or token ids used as given (no BOS added). */
  prompts: (string | number[])[];
  /** True when `prompt` was given as an array (the answer then has one choice per prompt either way). */
  promptWasArray: boolean;
  bestOf: number;
  echo: boolean;
  /** Alternatives per token (0: the tokens' own log-probabilities only); null: no logprobs. */
  logprobs: number | null;
}

export interface ClassifyParams {
  model: string;
  input: string | Record<string, string>;
  verbalizer?: Record<string, string>;
  template?: string;
}

/** OpenAI's default when max_tokens is absent. */
export const DEFAULT_MAX_TOKENS = 16;
/** OpenAI accepts up to 4 stop sequences. */
export const MAX_STOP = 4;

export type Json = Record<string, unknown>;

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

export function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireObject(body: unknown): Json {
  if (!isPlainObject(body)) throw badField('body', `the request body must be a JSON object, got ${describe(body)}`);
  return body;
}

/** Absent and null both mean "not given" (OpenAI clients send null for unset optionals). */
export function given(o: Json, key: string): boolean {
  return Object.hasOwn(o, key) && o[key] !== null && o[key] !== undefined;
}

export function modelField(o: Json): string {
  if (!given(o, 'model')) throw badField('model', 'model is required: the name of an adapter or of the base model (GET /v1/models lists them)');
  const v = o['model'];
  if (typeof v !== 'string') throw badField('model', `model must be a string, got ${describe(v)}`);
  if (v === '') throw badField('model', 'model must not be empty');
  return v;
}

export function numberField(o: Json, key: string, min: number, max: number, minInclusive = true): number | undefined {
  if (!given(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badField(key, `${key} must be a number, got ${describe(v)}`);
  if (minInclusive ? v < min : v <= min) throw badField(key, `${key} must be ${minInclusive ? 'at least' : 'greater than'} ${min}, got ${v}`);
  if (v > max) throw badField(key, `${key} must be at most ${max}, got ${v}`);
  return v;
}

export function intField(o: Json, key: string, min: number, max: number, whyMax = ''): number | undefined {
  if (!given(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badField(key, `${key} must be an integer, got ${describe(v)}`);
  if (v < min) throw badField(key, `${key} must be at least ${min}, got ${v}`);
  if (v > max) throw badField(key, `${key} must be at most ${max}${whyMax ? ` (${whyMax})` : ''}, got ${v}`);
  return v;
}

function stringRecord(v: unknown, key: string, allowEmpty: boolean): Record<string, string> {
  if (!isPlainObject(v)) throw badField(key, `${key} must be an object of strings, got ${describe(v)}`);
  const out: Record<string, string> = {};
  const entries = Object.entries(v);
  if (!allowEmpty && entries.length === 0) throw badField(key, `${key} must not be empty`);
  for (const [k, s] of entries) {
    if (typeof s !== 'string') throw badField(`${key}.${k}`, `${key}.${k} must be a string, got ${describe(s)}`);
    out[k] = s;
  }
  return out;
}

/** Refuses every field not in `known` (never ignored), naming it. */
export function refuseUnknown(o: Json, known: ReadonlySet<string>, route: string): void {
  for (const key of Object.keys(o)) {
    if (!known.has(key)) {
      throw badField(key, `${key} is not supported by this server's ${route} (it is refused rather than ignored); the fields it takes are: ${[...known].join(', ')}`);
    }
  }
}

/** Accepts a field only at a value that changes nothing (what clients send by default). */
function onlyNoop(o: Json, key: string, ok: (v: unknown) => boolean, what: string): void {
  if (given(o, key) && !ok(o[key])) throw badField(key, `${key} is not supported by this server (only ${what}), got ${describe(o[key])}`);
}

/** The fields completions and chat share (sampling, stop, seed, n, logit_bias, penalties, stream). */
export function parseSampling(o: Json, limits: CompletionLimits, opts: { minTokens: number }): SamplingParams {
  const model = modelField(o);
  if (given(o, 'max_tokens') && given(o, 'max_completion_tokens')) throw badField('max_completion_tokens', 'give max_tokens or max_completion_tokens (its alias), not both');
  const tokensKey = given(o, 'max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = intField(o, tokensKey, opts.minTokens, limits.maxTokens, limits.maxTokensWhy) ?? Math.min(DEFAULT_MAX_TOKENS, limits.maxTokens);
  const n = intField(o, 'n', 1, limits.caps.n, 'the server\'s cap on n') ?? 1;
  const temperature = numberField(o, 'temperature', 0, 2);
  const topP = numberField(o, 'top_p', 0, 1, false);
  const topK = intField(o, 'top_k', 1, Number.MAX_SAFE_INTEGER);
  const seed = intField(o, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const frequencyPenalty = numberField(o, 'frequency_penalty', -2, 2);
  const presencePenalty = numberField(o, 'presence_penalty', -2, 2);

  let logitBias: Record<number, number> | undefined;
  if (given(o, 'logit_bias')) {
    const b = o['logit_bias'];
    if (!isPlainObject(b)) throw badField('logit_bias', `logit_bias must be an object of token id → bias, got ${describe(b)}`);
    const entries = Object.entries(b);
    if (entries.length > limits.caps.logitBias) throw badField('logit_bias', `logit_bias holds ${entries.length} entries; the server's cap is ${limits.caps.logitBias}`);
    logitBias = {};
    for (const [k, v] of entries) {
      if (!/^(0|[1-9]\d*)$/.test(k) || Number(k) >= limits.vocabSize) throw badField(`logit_bias.${k}`, `logit_bias keys must be token ids from 0 to ${limits.vocabSize - 1}, got ${JSON.stringify(k)}`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < -100 || v > 100) throw badField(`logit_bias.${k}`, `logit_bias.${k} must be a number from -100 to 100, got ${describe(v)}`);
      logitBias[Number(k)] = v;
    }
  }

  let stop: string[] | undefined;
  if (given(o, 'stop')) {
    const s = o['stop'];
    if (typeof s === 'string') stop = [s];
    else if (Array.isArray(s)) {
      if (s.length > MAX_STOP) throw badField('stop', `stop holds ${s.length} strings; at most ${MAX_STOP}`);
      s.forEach((x, i) => {
        if (typeof x !== 'string') throw badField(`stop[${i}]`, `stop[${i}] must be a string, got ${describe(x)}`);
      });
      stop = s as string[];
    } else throw badField('stop', `stop must be a string or an array of strings, got ${describe(s)}`);
    if (stop.some((x) => x === '')) throw badField('stop', 'stop strings must not be empty');
  }

  let stream = false;
  if (given(o, 'stream')) {
    if (typeof o['stream'] !== 'boolean') throw badField('stream', `stream must be a boolean, got ${describe(o['stream'])}`);
    stream = o['stream'];
  }
  let includeUsage = false;
  if (given(o, 'stream_options')) {
    const so = o['stream_options'];
    if (!isPlainObject(so)) throw badField('stream_options', `stream_options must be an object, got ${describe(so)}`);
    if (!stream) throw badField('stream_options', 'stream_options is only allowed with stream: true');
    for (const k of Object.keys(so)) if (k !== 'include_usage') throw badField(`stream_options.${k}`, `stream_options.${k} is not supported (only include_usage)`);
    if (given(so, 'include_usage')) {
      if (typeof so['include_usage'] !== 'boolean') throw badField('stream_options.include_usage', `stream_options.include_usage must be a boolean, got ${describe(so['include_usage'])}`);
      includeUsage = so['include_usage'];
    }
  }
  onlyNoop(o, 'user', (v) => typeof v === 'string', 'a string, which is ignored');
  onlyNoop(o, 'metadata', isPlainObject, 'an object, which is ignored');
  return {
    model, maxTokens, n, stream, includeUsage,
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(stop !== undefined ? { stop } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(logitBias !== undefined ? { logitBias } : {}),
    ...(frequencyPenalty !== undefined ? { frequencyPenalty } : {}),
    ...(presencePenalty !== undefined ? { presencePenalty } : {}),
  };
}

const COMPLETION_FIELDS = new Set([
  'model', 'prompt', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'n', 'best_of', 'stream', 'stream_options',
  'logprobs', 'echo', 'stop', 'seed', 'logit_bias', 'frequency_penalty', 'presence_penalty', 'user', 'metadata', 'suffix',
]);

/** One prompt: a string, or an array of token ids (integers in the vocabulary). */
function tokenIds(v: readonly unknown[], field: string, vocabSize: number): number[] {
  if (v.length === 0) throw badField(field, `${field} must not be an empty array of token ids`);
  v.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw badField(field, `${field}[${i}] must be a token id (an integer from 0 to ${vocabSize - 1}), got ${describe(id)}`);
    }
  });
  return v as number[];
}

/** POST /v1/completions. Every field is checked; one the server does not implement is refused by name. */
export function parseCompletion(body: unknown, limits: CompletionLimits): CompletionParams {
  const o = requireObject(body);
  refuseUnknown(o, COMPLETION_FIELDS, 'completions');

  if (!given(o, 'prompt')) throw badField('prompt', 'prompt is required: a string, an array of strings, an array of token ids, or an array of such arrays');
  const p = o['prompt'];
  let prompts: (string | number[])[];
  const promptWasArray = Array.isArray(p);
  if (typeof p === 'string') {
    prompts = [p];
  } else if (Array.isArray(p)) {
    if (p.length === 0) throw badField('prompt', 'prompt must not be an empty array');
    if (p.every((x) => typeof x === 'number')) prompts = [tokenIds(p, 'prompt', limits.vocabSize)];
    else {
      prompts = p.map((s, i) => {
        if (typeof s === 'string') return s;
        if (Array.isArray(s)) return tokenIds(s, `prompt[${i}]`, limits.vocabSize);
        throw badField(`prompt[${i}]`, `prompt[${i}] must be a string or an array of token ids, got ${describe(s)}`);
      });
    }
  } else {
    throw badField('prompt', `prompt must be a string, an array of strings or token ids, got ${describe(p)}`);
  }

  let echo = false;
  if (given(o, 'echo')) {
    if (typeof o['echo'] !== 'boolean') throw badField('echo', `echo must be a boolean, got ${describe(o['echo'])}`);
    echo = o['echo'];
  }
  const sampling = parseSampling(o, limits, { minTokens: echo ? 0 : 1 });
  const bestOf = intField(o, 'best_of', 1, limits.caps.n, 'the server\'s cap on best_of') ?? sampling.n;
  if (bestOf < sampling.n) throw badField('best_of', `best_of (${bestOf}) must be at least n (${sampling.n})`);
  let logprobs: number | null = null;
  if (given(o, 'logprobs')) {
    const v = o['logprobs'];
    // Some clients send false for "none" (the chat API's boolean).
    if (v !== false) logprobs = intField(o, 'logprobs', 0, limits.caps.logprobs, 'the server\'s cap on logprobs')!;
  }
  if (prompts.length * bestOf > limits.maxPrompts) {
    throw badField('prompt', `this request asks for ${prompts.length * bestOf} completions (prompts × best_of); at most ${limits.maxPrompts} per request`);
  }
  if (sampling.stream && bestOf > sampling.n) throw badField('best_of', 'best_of greater than n cannot be streamed (the best are known only at the end)');
  if (sampling.stream && echo) throw badField('echo', 'echo is not supported with stream: true; send it without streaming');
  onlyNoop(o, 'suffix', (v) => v === '', 'an empty string');

  return { ...sampling, prompts, promptWasArray, bestOf, echo, logprobs };
}

/** POST /v1/classify. */
export function parseClassify(body: unknown): ClassifyParams {
  const o = requireObject(body);
  const model = modelField(o);
  if (!given(o, 'input')) throw badField('input', 'input is required: the text, or an object of template fields such as {"text": "..."}');
  const i = o['input'];
  const input = typeof i === 'string' ? i : isPlainObject(i) ? stringRecord(i, 'input', false) : undefined;
  if (input === undefined) throw badField('input', `input must be a string or an object of strings, got ${describe(i)}`);
  const out: ClassifyParams = { model, input };
  if (given(o, 'verbalizer')) {
    const v = stringRecord(o['verbalizer'], 'verbalizer', false);
    out.verbalizer = v;
  }
  if (given(o, 'template')) {
    const t = o['template'];
    if (typeof t !== 'string') throw badField('template', `template must be a string, got ${describe(t)}`);
    if (t === '') throw badField('template', 'template must not be empty');
    out.template = t;
  }
  return out;
}
