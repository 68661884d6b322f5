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
import type { Tensor } from '../tensor.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';
import { ORT_TYPE, runOrt } from './ort_tensors.ts';

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
    const { session, mod } = this;
    return runOrt({
      label: this.label,
      inputNames: session.inputNames,
      toOrt: (t) => new mod.Tensor(ORT_TYPE[t.dtype], t.data, t.shape as number[]),
      run: (f, names) => (names ? session.run(f, names) : session.run(f)),
      fail: (m) => new WebRuntimeError(m),
    }, feeds, fetches);
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
