/**
 * Compile graphs once and reuse them. Callers name a graph by a key that captures
 * everything its structure depends on (model, method, shapes that are not dynamic).
 */
import type { Graph } from '../graph/graph.ts';
import { toOnnx } from '../graph/onnx.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';
import { ortBackend } from './ort_backend.ts';

let defaultBackend: Backend = ortBackend;

export function setBackend(b: Backend): void {
  defaultBackend = b;
}

export function getBackend(): Backend {
  return defaultBackend;
}

/** Serialise and compile a graph with the current backend. */
export async function compileGraph(graph: Graph, opts: SessionOptions & { outputs?: readonly string[] } = {}): Promise<CompiledSession> {
  const bytes = toOnnx(graph, { outputs: opts.outputs });
  return defaultBackend.compile(bytes, { ...opts, label: opts.label ?? graph.name });
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
