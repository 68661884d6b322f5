/** onnxruntime-node behind the Backend interface. The only module that imports onnxruntime. */
import { unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SoftpromptError } from '../errors.ts';
import type { DType, Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';

export class RuntimeError extends SoftpromptError {}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data, t.shape as number[]);
}

function fromOrt(name: string, t: ort.Tensor): Tensor {
  const shape = t.dims as readonly number[];
  switch (t.type) {
    case 'float32': return tensor('float32', shape, t.data as Float32Array);
    case 'float64': return tensor('float64', shape, t.data as Float64Array);
    case 'int64': return tensor('int64', shape, t.data as BigInt64Array);
    case 'int32': return tensor('int32', shape, t.data as Int32Array);
    case 'bool': return tensor('bool', shape, t.data as Uint8Array);
    default: throw new RuntimeError(`output "${name}" has unsupported type ${t.type}`);
  }
}

class OrtSession implements CompiledSession {
  constructor(private readonly session: ort.InferenceSession, private readonly label: string) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      const t = feeds[name];
      if (!t) throw new RuntimeError(`${this.label}: missing feed "${name}" (inputs: ${this.session.inputNames.join(', ')})`);
      ortFeeds[name] = toOrt(t);
    }
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    } catch (e) {
      const shapes = Object.entries(feeds).map(([k, t]) => `${k}:${t.dtype}[${t.shape.join(',')}]`).join(' ');
      throw new RuntimeError(`${this.label}: run failed (${(e as Error).message}); feeds ${shapes}`);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(result)) out[k] = fromOrt(k, v as ort.Tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

let modelFiles = 0;

export const ortBackend: Backend = {
  name: 'onnxruntime-node',
  async compile(model: Uint8Array, opts: SessionOptions = {}): Promise<CompiledSession> {
    const label = opts.label ?? 'onnx model';
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.intraOpThreads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...(process.env.SOFTPROMPT_ORT_ARENA === '0' ? { enableCpuMemArena: false } : {}),
      // SOFTPROMPT_ORT_PROFILE=<prefix>: ORT writes per-node timings to <prefix>_<date>.json.
      ...(process.env.SOFTPROMPT_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.SOFTPROMPT_ORT_PROFILE } : {}),
      // Honoured by the Node binding although the typings say WebAssembly only.
      ...(opts.disablePrepacking ? { extra: { session: { disable_prepacking: '1' } } } : {}),
    };
    // ORT resolves external data relative to the model file, so such a model is loaded from a
    // file beside its data; the weights are read (mapped) during create, so the file can go after.
    const path = opts.externalDataDir ? join(opts.externalDataDir, `model-${process.pid}-${++modelFiles}.onnx`) : undefined;
    try {
      if (path) writeFileSync(path, model);
      const session = path ? await ort.InferenceSession.create(path, options) : await ort.InferenceSession.create(model, options);
      return new OrtSession(session, label);
    } catch (e) {
      throw new RuntimeError(`${label}: ONNX Runtime could not compile the graph: ${(e as Error).message}`);
    } finally {
      if (path) unlinkSync(path);
    }
  },
};
