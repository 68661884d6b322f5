/** Pieces shared by the families: weight loading, linear layers, attention and its mask. */
import type { WeightStore } from '../formats/weights.ts';
import { transpose2d } from '../formats/weight_store.ts';
import type { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { FloatDType } from './types.ts';

export function toDtype(t: Tensor<'float32'>, dtype: FloatDType): Tensor {
  return dtype === 'float32' ? t : tensor('float64', t.shape, Float64Array.from(t.data));
}

/**
 * Loads weights into a graph as lazy initializers (Graph.lazyWeight), checking shapes against
 * the config now and reading the bytes only when a model is serialised.
 */
export class WeightLoader {
  constructor(readonly g: Graph, readonly store: WeightStore, readonly dtype: FloatDType) {}

  /** Throws the store's error now if `name` is missing, not `shape` or not floating point. */
  check(name: string, shape: readonly number[]): void {
    const info = this.store.info(name);
    // Wrong shapes and integer tensors fail at build, with the store's own message.
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]) || !/^(f|bf)/i.test(info.dtype)) {
      this.store.get(name, shape);
    }
  }

  /** A weight as stored. */
  get(name: string, shape: readonly number[]): Value {
    this.check(name, shape);
    const { store, dtype } = this;
    return this.g.lazyWeight(name, {
      dtype, shape, owner: store, key: `${name}|${dtype}`,
      load: () => toDtype(store.get(name, shape), dtype),
    });
  }

  /** A weight computed from stored ones (`load` reads them), named `name` in the graph. */
  derived(name: string, shape: readonly number[], load: () => Tensor<'float32'>): Value {
    const { store, dtype } = this;
    return this.g.lazyWeight(name, { dtype, shape, owner: store, key: `${name}|${dtype}`, load: () => toDtype(load(), dtype) });
  }

  /** A torch nn.Linear weight [out, in], stored transposed as [in, out]. */
  linear(name: string, outFeatures: number, inFeatures: number): Value {
    this.check(name, [outFeatures, inFeatures]);
    const { store, dtype } = this;
    return this.g.lazyWeight(`${name}.T`, {
      dtype, shape: [inFeatures, outFeatures], owner: store, key: `${name}.T|${dtype}`,
      load: () => toDtype(store.getTransposed?.(name, [outFeatures, inFeatures]) ?? transpose2d(store.get(name, [outFeatures, inFeatures])), dtype),
    });
  }
}

export function linear(x: Value, w: Value, b?: Value): Value {
  const y = op.matmul(x, w);
  return b ? op.add(y, b) : y;
}

/** [B, S, H·hd] → [B, H, S, hd] */
export function splitHeads(x: Value, heads: number, headDim: number): Value {
  return op.transpose(op.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, H, S, hd] → [B, S, H·hd] */
export function mergeHeads(x: Value, heads: number, headDim: number): Value {
  return op.reshape(op.transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

/**
 * Additive attention bias [B, 1, S, P+S]: 0 where query i (at combined index P+i) may see
 * key j (j ≤ P+i and attention_mask[b, j] = 1), the dtype's most negative value elsewhere,
 * as HF's eager attention does. With `segmentIds` ([B, P+S]), query i also needs key j's segment
 * to be 0 or its own (ForwardInputs.segmentIds).
 */
export function attentionBias(embeds: Value, attentionMask: Value, dtype: FloatDType, segmentIds?: Value): Value {
  const g = embeds.graph;
  const one = g.constant(tensor('int64', [], BigInt64Array.of(1n)));
  const total = op.gather(op.shapeOf(attentionMask), one); // P+S, a scalar
  const seq = op.gather(op.shapeOf(embeds), one); // S
  const zero = g.scalar(0, 'int64');
  const kpos = op.range(zero, total, attentionMask.shape[1]!);
  const qpos = op.range(op.sub(total, seq), total, embeds.shape[1]!);
  const causal = op.lessOrEqual(op.unsqueeze(kpos, [0]), op.unsqueeze(qpos, [1])); // [S, P+S]
  const keep = op.unsqueeze(op.cast(attentionMask, 'bool'), [1, 2]); // [B, 1, 1, P+S]
  let allowed = op.and(op.unsqueeze(causal, [0, 1]), keep);
  if (segmentIds) {
    const segK = op.unsqueeze(segmentIds, [1, 2]); // [B, 1, 1, P+S]
    const segQ = op.unsqueeze(op.gather(segmentIds, qpos, 1), [1, 3]); // [B, 1, S, 1]
    allowed = op.and(allowed, op.or(op.equal(segK, 0), op.equal(segK, segQ)));
  }
  const min = dtype === 'float32' ? -3.4028234663852886e38 : -1.7976931348623157e308;
  return op.where(allowed, g.scalar(0, dtype), g.scalar(min, dtype));
}

/**
 * Scaled dot-product attention with grouped-query heads: query head j uses kv head
 * j // (H / KV). q: [B, H, S, hd]; k, v: [B, KV, L, hd]; bias: [B, 1, S, L].
 */
export function attention(q: Value, k: Value, v: Value, bias: Value, heads: number, kvHeads: number, headDim: number): Value {
  const rep = heads / kvHeads;
  const repeat = (x: Value): Value =>
    rep === 1
      ? x
      : op.reshape(op.expand(op.unsqueeze(x, [2]), x.graph.ints([1, 1, rep, 1, 1]), [1, 1, rep, 1, 1]), [0, heads, -1, headDim]);
  const scores = op.add(op.mul(op.matmul(q, op.transposeLast2(repeat(k))), 1 / Math.sqrt(headDim)), bias);
  return op.matmul(op.softmax(scores, -1), repeat(v));
}
