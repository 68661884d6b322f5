/**
 * onnxruntime-web behind the Backend interface: the browser's engine (also runs in Node,
 * which is how its parity with onnxruntime-node is tested).
 *
 * WASM is the default and the only tested execution provider. WebGPU is offered when
 * `navigator.gpu` exists, but no GPU was available to test it, so it is never a default.
 *
 * Weights travel inside the model bytes as initializers: onnxruntime-web copies the model
 * once into the WASM heap at session creation, whereas every CPU feed is copied on every run.
 */
import * as ort from 'onnxruntime-web/wasm';
import { SoftpromptError } from '../errors.ts';
import type { DType, Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';

export class WebRuntimeError extends SoftpromptError {}

export type WebExecutionProvider = 'wasm' | 'webgpu';

export interface WebBackendOptions {
  /** WASM threads. Needs a cross-origin-isolated page (COOP/COEP) for more than 1. Default 1. */
  numThreads?: number;
  /** 'wasm' (default, tested) or 'webgpu' (only where navigator.gpu exists; untested here). */
  executionProvider?: WebExecutionProvider;
  /** URL prefix where ort-wasm-simd-threaded.{mjs,wasm} are served (browser builds). */
  wasmPaths?: string;
}

type OrtModule = typeof ort;

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

function fromOrt(label: string, name: string, t: ort.Tensor): Tensor {
  const shape = t.dims as readonly number[];
  switch (t.type) {
    case 'float32': return tensor('float32', shape, t.data as Float32Array);
    case 'float64': return tensor('float64', shape, t.data as Float64Array);
    case 'int64': return tensor('int64', shape, t.data as BigInt64Array);
    case 'int32': return tensor('int32', shape, t.data as Int32Array);
    case 'bool': return tensor('bool', shape, t.data as Uint8Array);
    default: throw new WebRuntimeError(`${label}: output "${name}" has unsupported type ${t.type}`);
  }
}

class WebSession implements CompiledSession {
  constructor(private readonly mod: OrtModule, private readonly session: ort.InferenceSession, private readonly label: string) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    // A single-threaded WASM run settles through microtasks only; without this a worker busy
    // training would never see its next message (an abort) until the whole run ends.
    await yieldToEventLoop();
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const t = feeds[name];
      if (!t) throw new WebRuntimeError(`${this.label}: missing feed "${name}" (inputs: ${this.session.inputNames.join(', ')})`);
      ortFeeds[name] = new this.mod.Tensor(ORT_TYPE[t.dtype], t.data, t.shape as number[]);
    }
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    } catch (e) {
      const shapes = Object.entries(feeds).map(([k, t]) => `${k}:${t.dtype}[${t.shape.join(',')}]`).join(' ');
      throw new WebRuntimeError(`${this.label}: run failed (${(e as Error).message}); feeds ${shapes}`);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(result)) out[k] = fromOrt(this.label, k, v as ort.Tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Lets queued macrotasks (messages, timers) run: setImmediate on Node, a MessageChannel hop in browsers. */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === 'function') return new Promise((ok) => g.setImmediate!(ok));
  return new Promise((ok) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => (ch.port1.close(), ok());
    ch.port2.postMessage(null);
  });
}

interface NavigatorWithGpu {
  gpu?: unknown;
}

/** True where WebGPU could be asked for (a browser exposing navigator.gpu). */
export function webGpuAvailable(): boolean {
  const nav = (globalThis as { navigator?: NavigatorWithGpu }).navigator;
  return nav?.gpu !== undefined;
}

/**
 * A Backend over onnxruntime-web. onnxruntime-web's thread count and wasm paths are
 * process-wide and fixed at the first session, so the first backend created wins.
 */
export async function createWebBackend(opts: WebBackendOptions = {}): Promise<Backend> {
  const ep = opts.executionProvider ?? 'wasm';
  if (ep === 'webgpu' && !webGpuAvailable()) {
    throw new WebRuntimeError('executionProvider "webgpu": navigator.gpu is not available here; use "wasm"');
  }
  // The WebGPU build is a separate, larger module; load it only when asked for.
  const mod: OrtModule = ep === 'webgpu' ? ((await import('onnxruntime-web/webgpu')) as OrtModule) : ort;
  const threads = opts.numThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new WebRuntimeError(`numThreads: expected a positive integer, got ${threads}`);
  mod.env.wasm.numThreads = threads;
  if (opts.wasmPaths !== undefined) mod.env.wasm.wasmPaths = opts.wasmPaths;
  return {
    name: `onnxruntime-web (${ep}, ${threads} thread${threads === 1 ? '' : 's'})`,
    async compile(model: Uint8Array, sopts: SessionOptions = {}): Promise<CompiledSession> {
      const label = sopts.label ?? 'onnx model';
      try {
        const session = await mod.InferenceSession.create(model, {
          executionProviders: [ep],
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        });
        return new WebSession(mod, session, label);
      } catch (e) {
        throw new WebRuntimeError(`${label}: onnxruntime-web (${ep}) could not compile the graph: ${(e as Error).message}`);
      }
    },
  };
}
