/**
 * softprompt.json: reading with a check of every field (a hand-edited or truncated file fails here
 * with the field named, not later in training), and the base64 float32 tensors of `encoder`.
 */
import { ConfigError, FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { numel, tensor } from '../tensor.ts';
import { f32ToLeBytes, leBytesToF32 } from './bytes.ts';
import type { BaseModelFingerprint, MultitaskSourceInit, PromptInit, SoftpromptMeta } from './types.ts';

export const SOFTPROMPT_FORMAT = 'softprompt';
export const SOFTPROMPT_VERSION = 1;

export type EncodedTensor = NonNullable<SoftpromptMeta['encoder']>[string];

/** A float tensor as softprompt.json stores it: float32, little-endian, base64. Bit-exact for float32 input. */
export function encodeTensor(t: Tensor): EncodedTensor {
  const f32 = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
  return { shape: [...t.shape], dtype: 'F32', data_base64: Buffer.from(f32ToLeBytes(f32)).toString('base64') };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

/** Decodes one `encoder` entry; `field` names it in errors (e.g. encoder.mlp_head.0.weight). */
export function decodeTensor(entry: unknown, file: string, field: string): Tensor<'float32'> {
  if (!isObject(entry)) throw new ConfigError(file, field, `must be an object {shape, dtype, data_base64}, got ${describe(entry)}`);
  const { shape, dtype, data_base64: b64 } = entry;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new ConfigError(file, `${field}.shape`, `must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (dtype !== 'F32') throw new ConfigError(file, `${field}.dtype`, `must be "F32", got ${describe(dtype)}`);
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new ConfigError(file, `${field}.data_base64`, 'must be a base64 string (little-endian float32 values)');
  }
  const bytes = Buffer.from(b64, 'base64');
  const n = numel(shape as number[]);
  if (bytes.length !== n * 4) {
    throw new ConfigError(file, `${field}.data_base64`, `holds ${bytes.length} bytes but shape [${shape.join(', ')}] needs ${n * 4} (${n} float32 values)`);
  }
  return tensor('float32', shape as number[], leBytesToF32(bytes));
}

function optString(o: Json, key: string, file: string, prefix = ''): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(file, prefix + key, `must be a string, got ${describe(v)}`);
  return v;
}

function optObject(o: Json, key: string, file: string, prefix = ''): Json | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new ConfigError(file, `${prefix}${key}`, `must be an object, got ${describe(v)}`);
  return v;
}

function parseInitField(v: unknown, file: string): PromptInit {
  if (!isObject(v)) throw new ConfigError(file, 'init', `must be an object like {"kind": "random"}, got ${describe(v)}`);
  switch (v.kind) {
    case 'random':
    case 'vocab':
    case 'labels':
      return { kind: v.kind };
    case 'text':
      if (typeof v.text !== 'string' || v.text === '') throw new ConfigError(file, 'init.text', `must be a non-empty string, got ${describe(v.text)}`);
      return { kind: 'text', text: v.text };
    default:
      throw new ConfigError(file, 'init.kind', `must be one of random, vocab, text, labels, got ${describe(v.kind)}`);
  }
}

const SOURCE_INIT_KINDS: readonly MultitaskSourceInit['kind'][] = ['average_source_tasks', 'exact_source_task', 'only_source_shared'];

function parseSourceInit(v: unknown, file: string): MultitaskSourceInit {
  if (!isObject(v)) throw new ConfigError(file, 'source_init', `must be an object like {"kind": "average_source_tasks", "path": "…"}, got ${describe(v)}`);
  const kind = v.kind;
  if (typeof kind !== 'string' || !(SOURCE_INIT_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(file, 'source_init.kind', `must be one of ${SOURCE_INIT_KINDS.join(', ')}, got ${describe(kind)}`);
  }
  if (typeof v.path !== 'string' || v.path === '') throw new ConfigError(file, 'source_init.path', `must be a non-empty string, got ${describe(v.path)}`);
  const out: MultitaskSourceInit = { kind: kind as MultitaskSourceInit['kind'], path: v.path };
  if (v.task !== undefined && v.task !== null) {
    if (typeof v.task !== 'number' || !Number.isSafeInteger(v.task) || v.task < 0) {
      throw new ConfigError(file, 'source_init.task', `must be a non-negative integer (a source task id), got ${describe(v.task)}`);
    }
    out.task = v.task;
  }
  return out;
}

/** Task names: a non-empty list of distinct non-empty strings. */
function parseTasks(v: unknown, file: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(file, 'tasks', `must be a non-empty list of task names, got ${describe(v)}`);
  const seen = new Set<string>();
  v.forEach((name, i) => {
    if (typeof name !== 'string' || name === '') throw new ConfigError(file, `tasks[${i}]`, `must be a non-empty string (the name of task ${i}), got ${describe(name)}`);
    if (seen.has(name)) throw new ConfigError(file, `tasks[${i}]`, `repeats the task name ${JSON.stringify(name)}; task names must be distinct`);
    seen.add(name);
  });
  return v as string[];
}

function parseFingerprint(v: Json, file: string): BaseModelFingerprint {
  const posInt = (key: string): number => {
    const x = v[key];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0) throw new ConfigError(file, `base_model.${key}`, `must be a positive integer, got ${describe(x)}`);
    return x;
  };
  const modelType = v.model_type;
  if (typeof modelType !== 'string' || modelType === '') throw new ConfigError(file, 'base_model.model_type', `must be a non-empty string, got ${describe(modelType)}`);
  const sha = v.sha256;
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) throw new ConfigError(file, 'base_model.sha256', `must be 64 lowercase hex digits, got ${describe(sha)}`);
  const path = optString(v, 'path', file, 'base_model.');
  return {
    model_type: modelType,
    hidden_size: posInt('hidden_size'),
    num_layers: posInt('num_layers'),
    num_attention_heads: posInt('num_attention_heads'),
    vocab_size: posInt('vocab_size'),
    sha256: sha,
    ...(path !== undefined ? { path } : {}),
  };
}

function parseTemplateField(template: Json, file: string, field: string): { source: string; instruction?: string } {
  const source = template.source;
  if (typeof source !== 'string') throw new ConfigError(file, `${field}.source`, `must be a string, got ${describe(source)}`);
  const instruction = optString(template, 'instruction', file, `${field}.`);
  return instruction === undefined ? { source } : { source, instruction };
}

function parseVerbalizerField(verbalizer: Json, file: string, field: string): Record<string, string> {
  for (const [label, text] of Object.entries(verbalizer)) {
    if (typeof text !== 'string') throw new ConfigError(file, `${field}.${label}`, `must be the label's continuation text, got ${describe(text)}`);
  }
  return verbalizer as Record<string, string>;
}

/** Validates a parsed softprompt.json. `file` names it in errors. */
export function parseSoftpromptMeta(raw: unknown, file: string): SoftpromptMeta {
  if (!isObject(raw)) throw new FormatError(file, `must hold a JSON object, found ${describe(raw)}`);
  if (raw.format !== SOFTPROMPT_FORMAT) throw new ConfigError(file, 'format', `must be "${SOFTPROMPT_FORMAT}", got ${describe(raw.format)}`);
  if (raw.version !== SOFTPROMPT_VERSION) {
    throw new ConfigError(file, 'version', `is ${describe(raw.version)}; this softprompt reads version ${SOFTPROMPT_VERSION} (a newer softprompt wrote it? upgrade)`);
  }
  const meta: SoftpromptMeta = { format: SOFTPROMPT_FORMAT, version: SOFTPROMPT_VERSION };

  const template = optObject(raw, 'template', file);
  if (template) meta.template = parseTemplateField(template, file, 'template');
  const verbalizer = optObject(raw, 'verbalizer', file);
  if (verbalizer) meta.verbalizer = parseVerbalizerField(verbalizer, file, 'verbalizer');
  const taskPrompts = optObject(raw, 'task_prompts', file);
  if (taskPrompts) {
    const out: NonNullable<SoftpromptMeta['task_prompts']> = {};
    for (const [task, p] of Object.entries(taskPrompts)) {
      if (!isObject(p)) throw new ConfigError(file, `task_prompts.${task}`, `must be an object with "template" and/or "verbalizer", got ${describe(p)}`);
      const t = optObject(p, 'template', file, `task_prompts.${task}.`);
      const v = optObject(p, 'verbalizer', file, `task_prompts.${task}.`);
      out[task] = {
        ...(t ? { template: parseTemplateField(t, file, `task_prompts.${task}.template`) } : {}),
        ...(v ? { verbalizer: parseVerbalizerField(v, file, `task_prompts.${task}.verbalizer`) } : {}),
      };
    }
    meta.task_prompts = out;
  }
  const labelField = optString(raw, 'label_field', file);
  if (labelField !== undefined) meta.label_field = labelField;
  const training = optObject(raw, 'training', file);
  if (training) meta.training = training;
  const metrics = optObject(raw, 'metrics', file);
  if (metrics) meta.metrics = metrics;
  const base = optObject(raw, 'base_model', file);
  if (base) meta.base_model = parseFingerprint(base, file);
  if (raw.init !== undefined && raw.init !== null) meta.init = parseInitField(raw.init, file);
  if (raw.source_init !== undefined && raw.source_init !== null) meta.source_init = parseSourceInit(raw.source_init, file);
  if (raw.tasks !== undefined && raw.tasks !== null) meta.tasks = parseTasks(raw.tasks, file);
  const encoder = optObject(raw, 'encoder', file);
  if (encoder) {
    // Decode now so a corrupt entry fails at load; keep the checked entries as they were.
    for (const [name, entry] of Object.entries(encoder)) decodeTensor(entry, file, `encoder.${name}`);
    meta.encoder = encoder as NonNullable<SoftpromptMeta['encoder']>;
  }
  return meta;
}

/** The `encoder` tensors of a checked meta (see {@link parseSoftpromptMeta}). */
export function decodeEncoder(meta: SoftpromptMeta, file: string): Record<string, Tensor<'float32'>> {
  const out: Record<string, Tensor<'float32'>> = {};
  for (const [name, entry] of Object.entries(meta.encoder ?? {})) out[name] = decodeTensor(entry, file, `encoder.${name}`);
  return out;
}
