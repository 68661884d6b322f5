/** The op set: importing this module registers every op's shape and gradient rule. */
export * from './binary.ts';
export * from './unary.ts';
export * from './matmul.ts';
export * from './shape_ops.ts';
export * from './gather.ts';
export * from './reduce.ts';
export * from './softmax.ts';
export * from './layer_norm.ts';
export * from './logic.ts';
export * from './cumsum.ts';
export * from './gelu_erf.ts';
export * from './topk.ts';
export { shapeOf, zerosLike, unbroadcast } from './util.ts';
export type { Operand } from './util.ts';
