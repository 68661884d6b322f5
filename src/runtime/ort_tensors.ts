/**
 * What onnxruntime-node and onnxruntime-web share at the Backend boundary: tensors in and out,
 * and one run with errors that name the session, the missing feed or the feeds' shapes. Both
 * packages have their own Tensor class, so each backend passes its constructor and run.
 */
import type { DType, Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

/** softprompt dtype → ORT tensor type (the same names in both packages). */
export const ORT_TYPE = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' } as const satisfies Record<DType, string>;

/** The part of an ORT tensor read back. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** An ORT output as a softprompt tensor; `fail` makes the error for an unsupported type. */
export function fromOrt(name: string, t: OrtTensorLike, fail: (message: string) => Error): Tensor {
  const shape = t.dims;
  switch (t.type) {
    case 'float32': return tensor('float32', shape, t.data as Float32Array);
    case 'float64': return tensor('float64', shape, t.data as Float64Array);
    case 'int64': return tensor('int64', shape, t.data as BigInt64Array);
    case 'int32': return tensor('int32', shape, t.data as Int32Array);
    case 'bool': return tensor('bool', shape, t.data as Uint8Array);
    default: throw fail(`output "${name}" has unsupported type ${t.type}`);
  }
}

export interface OrtRun<F> {
  readonly label: string;
  readonly inputNames: readonly string[];
  /** The package's Tensor constructor, applied to a softprompt tensor. */
  toOrt(t: Tensor): F;
  run(feeds: Record<string, F>, fetches?: string[]): Promise<Record<string, unknown>>;
  fail(message: string): Error;
}

/** Feeds every input the session names, runs it and converts the outputs. */
export async function runOrt<F>(s: OrtRun<F>, feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
  const ortFeeds: Record<string, F> = {};
  for (const name of s.inputNames) {
    const t = feeds[name];
    if (!t) throw s.fail(`${s.label}: missing feed "${name}" (inputs: ${s.inputNames.join(', ')})`);
    ortFeeds[name] = s.toOrt(t);
  }
  let result: Record<string, unknown>;
  try {
    result = await s.run(ortFeeds, fetches ? [...fetches] : undefined);
  } catch (e) {
    const shapes = Object.entries(feeds).map(([k, t]) => `${k}:${t.dtype}[${t.shape.join(',')}]`).join(' ');
    throw s.fail(`${s.label}: run failed (${(e as Error).message}); feeds ${shapes}`);
  }
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(result)) out[k] = fromOrt(k, v as OrtTensorLike, (m) => s.fail(`${s.label}: ${m}`));
  return out;
}
