/** The graph layer: typed builder, op set with gradient rules, autodiff and ONNX serialisation. */
export * from './ops/index.ts';
export { Graph, scalarTensor } from './graph.ts';
export { gradients } from './autodiff.ts';
export { toOnnx, liveNodes, usedWeights, OPSET } from './onnx.ts';
export type { ExternalLocation } from './onnx.ts';
export type { Dim, Shape, Value, Node, Attr, WeightRef } from './types.ts';
export { attr } from './types.ts';
