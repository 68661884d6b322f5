/**
 * The frozen weights of a checkpoint, held once per process and fed to every session as graph
 * inputs. ONNX Runtime (Node and web) runs on the caller's input buffers without copying them and
 * cannot prepack or constant-fold an input, so the trainer, scorers and generator of one engine
 * share one copy of each weight (docs/scale.md measures this against mapped external data).
 */
import type { WeightRef } from '../graph/types.ts';
import type { Tensor } from '../tensor.ts';
import type { CompiledSession } from './backend.ts';

const byOwner = new WeakMap<object, Map<string, Tensor>>();

/** The weight's tensor, read (and transposed or converted) on first use, then shared. */
export function heldWeight(ref: WeightRef): Tensor {
  let held = byOwner.get(ref.owner);
  if (!held) {
    held = new Map();
    byOwner.set(ref.owner, held);
  }
  let t = held.get(ref.key);
  if (!t) {
    t = ref.load();
    held.set(ref.key, t);
  }
  return t;
}

/** Bytes held for a checkpoint so far (tests check that graphs add nothing twice). */
export function heldBytes(owner: object): number {
  let n = 0;
  for (const t of byOwner.get(owner)?.values() ?? []) n += t.data.byteLength;
  return n;
}

/** A session whose weight inputs are fed from the held tensors; callers see only the rest. */
export class WeightFedSession implements CompiledSession {
  readonly inputNames: readonly string[];
  private readonly weights: Readonly<Record<string, Tensor>>;

  constructor(private readonly inner: CompiledSession, weights: ReadonlyMap<string, WeightRef>) {
    this.inputNames = inner.inputNames.filter((n) => !weights.has(n));
    this.weights = Object.fromEntries([...weights].map(([name, ref]) => [name, heldWeight(ref)]));
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    return this.inner.run({ ...feeds, ...this.weights }, fetches);
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}
