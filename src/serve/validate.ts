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
  /** Prompts in one request at most. */
  readonly maxPrompts: number;
}

export interface CompletionParams {
  model: string;
  prompts: string[];
  /** True when `prompt` was given as an array (the answer then has one choice per prompt either way). */
  promptWasArray: boolean;
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
  stream: boolean;
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

type Json = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requireObject(body: unknown): Json {
  if (!isPlainObject(body)) throw badField('body', `the request body must be a JSON object, got ${describe(body)}`);
  return body;
}

/** Absent and null both mean "not given" (OpenAI clients send null for unset optionals). */
function given(o: Json, key: string): boolean {
  return Object.hasOwn(o, key) && o[key] !== null && o[key] !== undefined;
}

function modelField(o: Json): string {
  if (!given(o, 'model')) throw badField('model', 'model is required: the name of an adapter or of the base model (GET /v1/models lists them)');
  const v = o['model'];
  if (typeof v !== 'string') throw badField('model', `model must be a string, got ${describe(v)}`);
  if (v === '') throw badField('model', 'model must not be empty');
  return v;
}

function numberField(o: Json, key: string, min: number, max: number, minInclusive = true): number | undefined {
  if (!given(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badField(key, `${key} must be a number, got ${describe(v)}`);
  if (minInclusive ? v < min : v <= min) throw badField(key, `${key} must be ${minInclusive ? 'at least' : 'greater than'} ${min}, got ${v}`);
  if (v > max) throw badField(key, `${key} must be at most ${max}, got ${v}`);
  return v;
}

function intField(o: Json, key: string, min: number, max: number, whyMax = ''): number | undefined {
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

/** Fields OpenAI has that this server does not implement: refused rather than silently ignored. */
function refuseUnsupported(o: Json): void {
  if (given(o, 'n') && o['n'] !== 1) throw badField('n', `n must be 1 (one choice per prompt; send an array of prompts for more), got ${describe(o['n'])}`);
  if (given(o, 'best_of') && o['best_of'] !== 1) throw badField('best_of', `best_of is not supported (only 1), got ${describe(o['best_of'])}`);
  if (given(o, 'echo') && o['echo'] !== false) throw badField('echo', `echo is not supported (only false), got ${describe(o['echo'])}`);
  if (given(o, 'logprobs') && o['logprobs'] !== 0) throw badField('logprobs', `logprobs is not supported, got ${describe(o['logprobs'])}`);
  if (given(o, 'suffix') && o['suffix'] !== '') throw badField('suffix', `suffix is not supported, got ${describe(o['suffix'])}`);
}

/** POST /v1/completions. Unknown fields (user, presence_penalty, ...) are ignored. */
export function parseCompletion(body: unknown, limits: CompletionLimits): CompletionParams {
  const o = requireObject(body);
  const model = modelField(o);

  if (!given(o, 'prompt')) throw badField('prompt', 'prompt is required: a string, or an array of strings (one choice each)');
  const p = o['prompt'];
  let prompts: string[];
  const promptWasArray = Array.isArray(p);
  if (typeof p === 'string') {
    prompts = [p];
  } else if (Array.isArray(p)) {
    if (p.length === 0) throw badField('prompt', 'prompt must not be an empty array');
    if (p.length > limits.maxPrompts) throw badField('prompt', `prompt holds ${p.length} prompts; at most ${limits.maxPrompts} per request`);
    p.forEach((s, i) => {
      if (typeof s !== 'string') {
        throw badField(`prompt[${i}]`, `prompt[${i}] must be a string, got ${describe(s)}${typeof s === 'number' ? ' (token ids are not accepted; send text)' : ''}`);
      }
    });
    prompts = p as string[];
  } else {
    throw badField('prompt', `prompt must be a string or an array of strings, got ${describe(p)}`);
  }

  const maxTokens = intField(o, 'max_tokens', 1, limits.maxTokens, limits.maxTokensWhy) ?? Math.min(DEFAULT_MAX_TOKENS, limits.maxTokens);
  const temperature = numberField(o, 'temperature', 0, 2);
  const topP = numberField(o, 'top_p', 0, 1, false);
  const topK = intField(o, 'top_k', 1, Number.MAX_SAFE_INTEGER);
  const seed = intField(o, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

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
  if (stream && prompts.length > 1) throw badField('prompt', `a streamed request takes one prompt, got an array of ${prompts.length}`);
  refuseUnsupported(o);

  return {
    model, prompts, promptWasArray, maxTokens, stream,
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(stop !== undefined ? { stop } : {}),
    ...(seed !== undefined ? { seed } : {}),
  };
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
