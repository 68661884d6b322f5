/**
 * Compile graphs once and reuse them. Callers name a graph by a key that captures
 * everything its structure depends on (model, method, shapes that are not dynamic).
 *
 * The Node-only pieces (the onnxruntime-node backend, the external-data weight file) are imported
 * on first use, not at module level: a browser build sets its backend first and never loads them.
 */
import type { Graph } from '../graph/graph.ts';
import { toOnnx, usedWeightsByName } from '../graph/onnx.ts';
import type { WeightRef } from '../graph/types.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';
import { WeightFedSession } from './held_weights.ts';
import { isLargeModel } from './large.ts';

export { externalDataThreshold, isLargeModel, setExternalDataThreshold } from './large.ts';

function refBytes(refs: readonly WeightRef[]): number {
  const size = { float32: 4, float64: 8, int64: 8, int32: 4, bool: 1 } as const;
  return refs.reduce((s, r) => s + r.shape.reduce((a, b) => a * b, 1) * size[r.dtype], 0);
}

/**
 * Large models (large.ts) hold their frozen weights once per process and feed them to every
 * session as graph inputs (held_weights.ts), or, with SOFTPROMPT_LARGE_WEIGHTS=file, keep them in
 * an external-data file mapped by every session (weight_file.ts).
 */
export type LargeWeights = 'inputs' | 'file';
let largeWeightsMode: LargeWeights | undefined;

/** How large models hold their weights (undefined: $SOFTPROMPT_LARGE_WEIGHTS, then 'inputs'). */
export function setLargeWeights(mode: LargeWeights | undefined): void {
  largeWeightsMode = mode;
}

function largeWeights(): LargeWeights {
  return largeWeightsMode ?? (process.env.SOFTPROMPT_LARGE_WEIGHTS === 'file' ? 'file' : 'inputs');
}

let defaultBackend: Backend | undefined;

export function setBackend(b: Backend): void {
  defaultBackend = b;
}

/** The backend set by setBackend, else onnxruntime-node (loaded now). */
export async function getBackend(): Promise<Backend> {
  defaultBackend ??= (await import('./ort_backend.ts')).ortBackend;
  return defaultBackend;
}

export interface CompileOptions extends SessionOptions {
  outputs?: readonly string[];
  /**
   * Feed the frozen weights as held graph inputs whatever the model's size. For graphs that run
   * on many rows at once (training, scoring, prompt prefixes): there ORT's prepacking gains
   * little (GPT-2 small's training step is as fast; docs/scale.md), while the session's own
   * packed copies and the serialised weights cost memory and start-up time. Decoding (a few rows
   * per run) keeps embedded, prepacked weights below the large-model threshold. Only on a backend
   * that reads inputs in place.
   */
  heldWeights?: boolean;
}

/** Serialise and compile a graph with the current backend. */
export async function compileGraph(graph: Graph, opts: CompileOptions = {}): Promise<CompiledSession> {
  const { heldWeights, ...sessionOpts } = opts;
  const label = opts.label ?? graph.name;
  const named = usedWeightsByName(graph, opts.outputs);
  const refs = [...named.values()];
  const owner = refs[0]?.owner;
  const backend = await getBackend();
  const oneOwner = owner !== undefined && refs.every((r) => r.owner === owner);
  const large = oneOwner && isLargeModel(refBytes(refs));
  if (large && largeWeights() === 'file') {
    const { weightFileFor } = await import('./weight_file.ts');
    const file = weightFileFor(owner);
    const bytes = toOnnx(graph, { outputs: opts.outputs, external: (ref) => file.place(ref) });
    // SOFTPROMPT_DISABLE_PREPACKING=1: sessions keep the mapped weights instead of packed private
    // copies (one copy per engine; measured in docs/scale.md).
    const unpacked = opts.disablePrepacking ?? process.env.SOFTPROMPT_DISABLE_PREPACKING === '1';
    return backend.compile(bytes, { ...sessionOpts, label, externalDataDir: file.dir, disablePrepacking: unpacked });
  }
  if (large || (oneOwner && heldWeights === true && backend.inputsWithoutCopy === true)) {
    const bytes = toOnnx(graph, { outputs: opts.outputs, weightInputs: true });
    return new WeightFedSession(await backend.compile(bytes, { ...sessionOpts, label }), named);
  }
  return backend.compile(toOnnx(graph, { outputs: opts.outputs }), { ...sessionOpts, label });
}

export class SessionCache {
  private readonly sessions = new Map<string, Promise<CompiledSession>>();

  /** The session for `key`, building and compiling the graph only on the first call. */
  get(key: string, build: () => Graph, opts: SessionOptions & { outputs?: readonly string[] } = {}): Promise<CompiledSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = compileGraph(build(), { ...opts, label: opts.label ?? key });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  async clear(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}
