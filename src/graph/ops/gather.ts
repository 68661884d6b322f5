/** Indexing: Gather (axis 0 differentiable), GatherElements, and the scatters that are their gradients. */
import { GraphError } from '../../errors.ts';
import { registerOp } from '../registry.ts';
import { fmtShape, normAxis } from '../shape.ts';
import type { Value } from '../types.ts';
import { attr, intAttr } from '../types.ts';
import { unsqueeze } from './shape_ops.ts';
import { zerosLike } from './util.ts';

export function gather(data: Value, indices: Value, axis = 0): Value {
  return data.graph.op1('Gather', [data, indices], { axis: attr.int(axis) });
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  return data.graph.op1('GatherElements', [data, indices], { axis: attr.int(axis) });
}

registerOp({
  type: 'Gather',
  infer: ([data, idx], attrs) => {
    const ax = normAxis('Gather', (attrs['axis'] as { value: number } | undefined)?.value ?? 0, data!.shape.length);
    if (idx!.dtype !== 'int64' && idx!.dtype !== 'int32') throw new GraphError(`Gather: indices must be integer, got ${idx!.dtype}`);
    return [{ dtype: data!.dtype, shape: [...data!.shape.slice(0, ax), ...idx!.shape, ...data!.shape.slice(ax + 1)] }];
  },
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null, null];
    if (intAttr(node, 'axis', 0) !== 0) throw new GraphError('Gather: gradient implemented for axis 0 only');
    const [data, idx] = node.inputs as Value[];
    const g = dy!.graph;
    // Repeated indices must accumulate, hence reduction "add".
    const grad = g.op1('ScatterND', [zerosLike(data!), unsqueeze(idx!, [-1]), dy!], { reduction: attr.string('add') });
    return [grad, null];
  },
});

registerOp({
  type: 'GatherElements',
  infer: ([data, idx]) => {
    if (data!.shape.length !== idx!.shape.length) {
      throw new GraphError(`GatherElements: data ${fmtShape(data!.shape)} and indices ${fmtShape(idx!.shape)} differ in rank`);
    }
    return [{ dtype: data!.dtype, shape: idx!.shape }];
  },
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null, null];
    const [data, idx] = node.inputs as Value[];
    const g = dy!.graph;
    const grad = g.op1('ScatterElements', [zerosLike(data!), idx!, dy!], {
      axis: attr.int(intAttr(node, 'axis', 0)),
      reduction: attr.string('add'),
    });
    return [grad, null];
  },
});

const likeFirst = (inputs: readonly (Value | null)[]) => [{ dtype: inputs[0]!.dtype, shape: inputs[0]!.shape }];
registerOp({ type: 'ScatterND', infer: likeFirst });
registerOp({ type: 'ScatterElements', infer: likeFirst });
