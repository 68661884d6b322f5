/**
 * Parity with ../shared/golden: plain forward logits and loss, and for each PEFT
 * method the logits at every position (padding included), the loss and every
 * trainable tensor's gradient, plus greedy generation ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../errors.ts';
import { loadModelDir } from '../formats/model_dir.ts';
import type { ModelDir } from '../formats/model_dir.ts';
import { readSafetensors } from '../formats/safetensors.ts';
import { batchFeeds } from '../methods/batch.ts';
import { buildProgram } from '../methods/program.ts';
import type { PromptMethod } from '../methods/types.ts';
import { createMethod } from '../methods/factory.ts';
import { compileGraph } from '../runtime/session.ts';
import type { CompiledSession } from '../runtime/backend.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

/** Tolerances from golden/README.md. */
export const TOLERANCE = { logits: 1e-4, loss: 1e-5, gradRel: 1e-3 } as const;

export const GOLDEN_CASES = [
  'tiny-gpt2', 'tiny-gpt2-sharp', 'tiny-llama', 'stories260K',
  'tiny-qwen2', 'tiny-qwen3', 'tiny-llama3', 'tiny-mistral', 'tiny-gemma3', 'tiny-phi3',
  'tiny-gpt-neox', 'tiny-opt', 'tiny-bloom',
] as const;
export type GoldenMethod = 'forward' | 'prompt_tuning' | 'p_tuning' | 'prefix_tuning';

export interface Comparison {
  readonly case: string;
  readonly method: GoldenMethod;
  readonly quantity: string;
  readonly error: number;
  readonly tolerance: number;
  readonly ok: boolean;
}

export interface GoldenCase {
  readonly name: string;
  readonly dir: string;
  readonly model: ModelDir;
  readonly spec: CaseSpec;
}

interface CaseSpec {
  model_dir: string;
  methods: {
    prompt_tuning: { num_virtual_tokens: number };
    p_tuning: { num_virtual_tokens: number; encoder_hidden_size: number };
    prefix_tuning: { num_virtual_tokens: number };
  };
}

export function loadGoldenCase(goldenRoot: string, name: string): GoldenCase {
  const dir = join(goldenRoot, name);
  const specPath = join(dir, 'case.json');
  if (!existsSync(specPath)) throw new FormatError(specPath, `not found: ${goldenRoot} is not a golden folder (expected ${name}/case.json in it)`);
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as CaseSpec;
  const model = loadModelDir(join(goldenRoot, '..', spec.model_dir));
  return { name, dir, model, spec };
}

export function methodFor(c: GoldenCase, m: Exclude<GoldenMethod, 'forward'>): PromptMethod {
  const s = c.spec.methods;
  switch (m) {
    case 'prompt_tuning': return createMethod(c.model.config, { peftType: 'PROMPT_TUNING', numVirtualTokens: s.prompt_tuning.num_virtual_tokens });
    case 'p_tuning': return createMethod(c.model.config, { peftType: 'P_TUNING', numVirtualTokens: s.p_tuning.num_virtual_tokens, encoderHiddenSize: s.p_tuning.encoder_hidden_size });
    case 'prefix_tuning': return createMethod(c.model.config, { peftType: 'PREFIX_TUNING', numVirtualTokens: s.prefix_tuning.num_virtual_tokens });
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function cmp(c: GoldenCase, method: GoldenMethod, quantity: string, error: number, tolerance: number): Comparison {
  return { case: c.name, method, quantity, error, tolerance, ok: error <= tolerance };
}

function asFloats(t: Tensor): ArrayLike<number> {
  return t.data as Float32Array;
}

/** Compare forward, loss and gradients of one method (or the plain model) against its golden file. */
export async function checkMethod(c: GoldenCase, m: GoldenMethod): Promise<Comparison[]> {
  const file = readSafetensors(join(c.dir, `${m === 'forward' ? 'forward' : m}.safetensors`));
  const get = (k: string): Tensor => {
    const t = file.get(k);
    if (!t) throw new Error(`${c.dir}/${m}.safetensors: missing ${k}`);
    return t;
  };
  const method = m === 'forward' ? null : methodFor(c, m);
  const program = buildProgram(c.model.config, c.model.weights, method, { fullLogits: true, virtualTokenGradient: m === 'p_tuning' });
  // As training and scoring compile (held weights on onnxruntime-node).
  const session = await compileGraph(program.graph, { heldWeights: true });
  try {
    const feeds = batchFeeds(method, {
      inputIds: get('input_ids') as Tensor<'int64'>,
      attentionMask: get('attention_mask') as Tensor<'int64'>,
      labels: get('labels') as Tensor<'int64'>,
    });
    for (const p of method?.params ?? []) feeds[p.name] = get(p.name);
    const out = await session.run(feeds);
    const res: Comparison[] = [];
    res.push(cmp(c, m, 'logits', maxAbsDiff(asFloats(out['logits']!), asFloats(get('logits'))), TOLERANCE.logits));
    res.push(cmp(c, m, 'loss', Math.abs((out['loss']!.data[0] as number) - (get('loss').data[0] as number)), TOLERANCE.loss));
    const grads = [...(method?.params.map((p) => p.name) ?? []), ...(m === 'p_tuning' ? ['prompt_embeddings'] : [])];
    for (const name of grads) {
      const mine = out[name === 'prompt_embeddings' && m === 'p_tuning' ? 'grad.virtual_tokens' : `grad.${name}`]!;
      const ref = get(`grad.${name}`);
      res.push(cmp(c, m, `grad.${name}`, maxAbsDiff(asFloats(mine), asFloats(ref)) / maxAbs(asFloats(ref)), TOLERANCE.gradRel));
    }
    return res;
  } finally {
    await session.release();
  }
}

function argmaxLast(logits: Tensor, row: number): number {
  const [, S, V] = logits.shape as [number, number, number];
  const d = logits.data as Float32Array;
  const base = (row * S + S - 1) * V;
  let best = 0;
  for (let v = 1; v < V; v++) if (d[base + v]! > d[base + best]!) best = v;
  return best;
}

/** Greedy ids by full recomputation (no KV cache): one forward per new token. */
export async function greedyFullRecompute(
  session: CompiledSession,
  method: PromptMethod | null,
  params: Record<string, Tensor>,
  prompt: readonly number[],
  steps: number,
): Promise<number[]> {
  const ids = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const T = ids.length;
    const feeds = batchFeeds(method, {
      inputIds: tensor('int64', [1, T], BigInt64Array.from(ids, BigInt)),
      attentionMask: tensor('int64', [1, T], new BigInt64Array(T).fill(1n)),
    });
    const r = await session.run({ ...feeds, ...params }, ['logits']);
    const next = argmaxLast(r['logits']!, 0);
    ids.push(next);
    out.push(next);
  }
  return out;
}

/** Compare greedy ids (plain, prompt tuning, prefix tuning) with forward.safetensors. */
export async function checkGeneration(c: GoldenCase): Promise<Comparison[]> {
  const file = readSafetensors(join(c.dir, 'forward.safetensors'));
  const variants: [string, PromptMethod | null, Record<string, Tensor>][] = [
    ['generated_ids', null, {}],
    ['generated_ids_prompt_tuning', methodFor(c, 'prompt_tuning'), { prompt_embeddings: file.get('gen.prompt_embeddings')! }],
    ['generated_ids_prefix_tuning', methodFor(c, 'prefix_tuning'), { prompt_embeddings: file.get('gen.prefix_embeddings')! }],
  ];
  const res: Comparison[] = [];
  for (const [key, method, params] of variants) {
    const program = buildProgram(c.model.config, c.model.weights, method, { fullLogits: true, loss: false, gradients: false });
    const session = await compileGraph(program.graph);
    const ref = file.get(`gen.${key}`)!;
    const steps = ref.shape[1]!;
    let mismatches = 0;
    for (let row = 0; row < ref.shape[0]!; row++) {
      const prompt = Array.from(file.get(`gen.input_ids.${row}`)!.data as BigInt64Array, Number);
      const ids = await greedyFullRecompute(session, method, params, prompt, steps);
      ids.forEach((id, i) => (mismatches += id === Number((ref.data as BigInt64Array)[row * steps + i]) ? 0 : 1));
    }
    await session.release();
    res.push(cmp(c, 'forward', `gen.${key}`, mismatches, 0));
  }
  return res;
}

export function defaultGoldenRoot(): string | null {
  for (const p of [process.env['SOFTPROMPT_GOLDEN'], join(process.cwd(), '..', 'shared', 'golden'), join(process.cwd(), 'shared', 'golden')]) {
    if (p && existsSync(join(p, 'README.md'))) return p;
  }
  return null;
}
