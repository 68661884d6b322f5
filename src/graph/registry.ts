/**
 * One op, one shape rule, one gradient rule. Each file in ops/ registers its ops here.
 */
import { GraphError } from '../errors.ts';
import type { DType } from '../tensor.ts';
import type { Attr, Node, Shape, Value } from './types.ts';

export interface OutputType {
  dtype: DType;
  shape: Shape;
}

export interface OpDef {
  readonly type: string;
  readonly domain?: string;
  /** Output dtypes and symbolic shapes; throws GraphError naming the op and shapes. */
  infer(inputs: readonly (Value | null)[], attrs: Readonly<Record<string, Attr>>): OutputType[];
  /**
   * Vector-Jacobian product: given d(loss)/d(outputs) (null where an output has no
   * gradient), return d(loss)/d(inputs) for those inputs with wants[i] true.
   * Absent for ops that are not differentiable (integer and boolean ops).
   */
  vjp?(node: Node, dys: readonly (Value | null)[], wants: readonly boolean[]): (Value | null)[];
}

const registry = new Map<string, OpDef>();

export function registerOp(def: OpDef): void {
  registry.set(`${def.domain ?? ''}::${def.type}`, def);
}

export function getOp(type: string, domain = ''): OpDef {
  const def = registry.get(`${domain}::${type}`);
  if (!def) throw new GraphError(`unknown op ${domain ? domain + '.' : ''}${type}: it has no shape rule registered in graph/ops`);
  return def;
}
