/**
 * Serialise a Graph to an ONNX ModelProto. Nodes and initializers that no output
 * needs are dropped, so one builder graph can yield several lean models.
 */
import type { Tensor } from '../tensor.ts';
import type { Graph } from './graph.ts';
import { dtypeToOnnx } from './ops/unary.ts';
import { PbWriter } from './protobuf.ts';
import type { Attr, Node, Value, WeightRef } from './types.ts';

export const OPSET = 18;
const IR_VERSION = 8;

// AttributeProto.AttributeType
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function tensorProto(name: string, t: Tensor): PbWriter {
  const w = new PbWriter();
  for (const d of t.shape) w.varint(1, d);
  w.varint(2, dtypeToOnnx(t.dtype));
  w.string(8, name);
  const d = t.data;
  // Little-endian hosts only (x86, arm64): the typed array's bytes are the raw_data.
  w.bytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return w;
}

/** Where an external initializer's bytes lie: a file next to the model, and a byte range in it. */
export interface ExternalLocation {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

/** A TensorProto whose data lives in an external file (data_location = EXTERNAL). */
function externalTensorProto(name: string, ref: WeightRef, at: ExternalLocation): PbWriter {
  const w = new PbWriter();
  for (const d of ref.shape) w.varint(1, d);
  w.varint(2, dtypeToOnnx(ref.dtype));
  w.string(8, name);
  const entry = (k: string, v: string): PbWriter => new PbWriter().string(1, k).string(2, v);
  w.message(13, entry('location', at.location));
  w.message(13, entry('offset', String(at.offset)));
  w.message(13, entry('length', String(at.length)));
  w.varint(14, 1);
  return w;
}

function attrProto(name: string, a: Attr): PbWriter {
  const w = new PbWriter().string(1, name);
  switch (a.kind) {
    case 'float': w.float(2, a.value); break;
    case 'int': w.varint(3, a.value); break;
    case 'string': w.string(4, a.value); break;
    case 'tensor': w.message(5, tensorProto('', a.value)); break;
    case 'floats': for (const f of a.value) w.float(7, f); break;
    case 'ints': for (const i of a.value) w.varint(8, i); break;
  }
  return w.varint(20, ATTR_TYPE[a.kind]);
}

function nodeProto(n: Node, index: number): PbWriter {
  const w = new PbWriter();
  for (const i of n.inputs) w.string(1, i ? i.name : '');
  for (const o of n.outputs) w.string(2, o.name);
  w.string(3, `${n.op}_${index}`);
  w.string(4, n.op);
  // Attributes starting with "__" carry shape hints for our own inference only.
  for (const [k, a] of Object.entries(n.attrs)) if (!k.startsWith('__')) w.message(5, attrProto(k, a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfo(v: Value, withDims: boolean): PbWriter {
  const shape = new PbWriter();
  for (const d of v.shape) {
    const dim = new PbWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else if (withDims && /^[A-Za-z_]\w*$/.test(d)) dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new PbWriter().varint(1, dtypeToOnnx(v.dtype)).message(2, shape);
  const type = new PbWriter().message(1, tensorType);
  return new PbWriter().string(1, v.name).message(2, type);
}

export interface SerializeOptions {
  /** Only these outputs (by name); default all. */
  outputs?: readonly string[];
  /**
   * Places a frozen weight (Graph.lazyWeight) in an external-data file and says where; the
   * weight is then not embedded. Absent: every weight is read and embedded (the model must
   * then stay under protobuf's 2 GiB).
   */
  external?: (ref: WeightRef) => ExternalLocation;
  /**
   * Declare every frozen weight as a graph input (fixed shape) instead of an initializer, to be
   * fed at run time: ONNX Runtime then uses the caller's buffer, so sessions share one copy.
   */
  weightInputs?: boolean;
}

/** The nodes needed to compute the given outputs, in graph order. */
export function liveNodes(graph: Graph, outputs: readonly Value[]): Node[] {
  const need = new Set<Value>(outputs);
  const keep: Node[] = [];
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k]!;
    if (!n.outputs.some((o) => need.has(o))) continue;
    keep.push(n);
    for (const i of n.inputs) if (i) need.add(i);
  }
  return keep.reverse();
}

/** The frozen weights (Graph.lazyWeight) the given outputs need, by graph value name. */
export function usedWeightsByName(graph: Graph, outputs?: readonly string[]): Map<string, WeightRef> {
  const outs = outputs ? graph.outputs.filter((o) => outputs.includes(o.name)) : graph.outputs;
  const used = new Set<string>();
  for (const n of liveNodes(graph, outs)) for (const i of n.inputs) if (i) used.add(i.name);
  return new Map([...graph.weightRefs].filter(([name]) => used.has(name)).map(([name, { ref }]) => [name, ref]));
}

/** The frozen weights (Graph.lazyWeight) the given outputs need. */
export function usedWeights(graph: Graph, outputs?: readonly string[]): WeightRef[] {
  return [...usedWeightsByName(graph, outputs).values()];
}

export function toOnnx(graph: Graph, opts: SerializeOptions = {}): Uint8Array {
  const outputs = opts.outputs ? graph.outputs.filter((o) => opts.outputs!.includes(o.name)) : graph.outputs;
  const nodes = liveNodes(graph, outputs);
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) if (i) used.add(i.name);

  const g = new PbWriter();
  nodes.forEach((n, i) => g.message(1, nodeProto(n, i)));
  g.string(2, graph.name);
  for (const [name, { tensor }] of graph.initializers) if (used.has(name)) g.message(5, tensorProto(name, tensor));
  for (const [name, { ref }] of graph.weightRefs) {
    if (!used.has(name) || opts.weightInputs) continue;
    g.message(5, opts.external ? externalTensorProto(name, ref, opts.external(ref)) : tensorProto(name, ref.load()));
  }
  // Inputs stay in the signature even when unused, so feeds never fail on a pruned model.
  for (const v of graph.inputs) g.message(11, valueInfo(v, true));
  if (opts.weightInputs) for (const [name, { value }] of graph.weightRefs) if (used.has(name)) g.message(11, valueInfo(value, true));
  for (const v of outputs) g.message(12, valueInfo(v, false));

  const model = new PbWriter();
  model.varint(1, IR_VERSION);
  model.string(2, 'softprompt');
  model.message(7, g);
  model.message(8, new PbWriter().string(1, '').varint(2, OPSET));
  model.message(8, new PbWriter().string(1, 'com.microsoft').varint(2, 1));
  return model.finish();
}
