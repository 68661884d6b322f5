/** onnxruntime-node behind the Backend interface. The only module that imports onnxruntime. */
import { unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SoftpromptError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import type { Backend, CompiledSession, SessionOptions } from './backend.ts';
import { ORT_TYPE, runOrt } from './ort_tensors.ts';

export class RuntimeError extends SoftpromptError {}

class OrtSession implements CompiledSession {
  constructor(private readonly session: ort.InferenceSession, private readonly label: string) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    const session = this.session;
    return runOrt({
      label: this.label,
      inputNames: session.inputNames,
      toOrt: (t) => new ort.Tensor(ORT_TYPE[t.dtype], t.data, t.shape as number[]),
      run: (f, names) => (names ? session.run(f, names) : session.run(f)),
      fail: (m) => new RuntimeError(m),
    }, feeds, fetches);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

let modelFiles = 0;

const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** ORT's graph optimisation level: 'all', or $SOFTPROMPT_ORT_OPT for experiments (docs/scale.md). */
function optimizationLevel(): (typeof LEVELS)[number] {
  const env = process.env.SOFTPROMPT_ORT_OPT;
  if (env === undefined || env === '') return 'all';
  const level = LEVELS.find((l) => l === env);
  if (level === undefined) throw new RuntimeError(`SOFTPROMPT_ORT_OPT is ${JSON.stringify(env)}; use one of ${LEVELS.join(', ')}`);
  return level;
}

export const ortBackend: Backend = {
  name: 'onnxruntime-node',
  inputsWithoutCopy: true,
  async compile(model: Uint8Array, opts: SessionOptions = {}): Promise<CompiledSession> {
    const label = opts.label ?? 'onnx model';
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.intraOpThreads ?? availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: optimizationLevel(),
      ...(process.env.SOFTPROMPT_ORT_ARENA === '0' ? { enableCpuMemArena: false } : {}),
      // ORT's memory pattern plans one block per input shape; batches of other lengths each add a
      // block, which the arena keeps (the 360M training step grew 1.9 GB by its third update).
      // Without it the arena reuses tensor-sized chunks at the same speed (docs/scale.md).
      // $SOFTPROMPT_ORT_MEM_PATTERN=1 turns it back on for comparison.
      enableMemPattern: process.env.SOFTPROMPT_ORT_MEM_PATTERN === '1',
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
