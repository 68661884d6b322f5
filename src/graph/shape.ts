/** Symbolic shape arithmetic. A dim broadcasts only when it is the literal 1. */
import { GraphError } from '../errors.ts';
import type { Dim, Shape } from './types.ts';

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return `${a}+${b}`;
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  return `${a}*${b}`;
}



/** Numpy-style broadcast of several shapes; throws naming the op and the shapes. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s.length);
      if (k < 0) continue;
      const e = s[k]!;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) {
        // Two different literals cannot broadcast; a symbol against a literal is assumed equal.
        if (typeof d === 'number' && typeof e === 'number') {
          throw new GraphError(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} do not broadcast (dim ${i}: ${d} vs ${e})`);
        }
        if (typeof d === 'string' && typeof e === 'number') d = e;
      }
    }
    out.push(d);
  }
  return out;
}

export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function staticNumel(s: Shape): number | null {
  let n = 1;
  for (const d of s) {
    if (typeof d !== 'number') return null;
    n *= d;
  }
  return n;
}
