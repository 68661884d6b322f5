/** The backward is pruned: no weight gradients, no branches that do not reach the inputs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph, gradients } from '../../src/graph/index.ts';
import * as op from '../../src/graph/index.ts';
import { GraphError } from '../../src/errors.ts';
import { randn } from '../helpers/gradcheck.ts';

test('no gradient is computed for a frozen weight', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', ['B', 4]);
  const w = g.weight('w', randn([4, 3], 1));
  const loss = op.reduceSum(op.matmul(x, w), [0, 1], false);
  const forward = g.nodes.length;
  gradients(loss, [x]);
  // dX = dY·Wᵀ is one MatMul; dW = Xᵀ·dY would be a second.
  assert.equal(g.nodes.slice(forward).filter((n) => n.op === 'MatMul').length, 1);
});

test('branches that do not lead back to the inputs are not differentiated', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const c = g.weight('c', randn([2, 3], 2));
  const frozen = op.tanh(op.exp(c)); // depends only on a constant
  const loss = op.reduceSum(op.mul(op.sigmoid(x), frozen), [0, 1], false);
  const nodesBefore = g.nodes.length;
  gradients(loss, [x]);
  const backward = g.nodes.slice(nodesBefore).map((n) => n.op);
  assert.ok(!backward.includes('Exp') && !backward.includes('Tanh'), `backward has ops of the frozen branch: ${backward.join(',')}`);
});

test('an input that does not reach the loss is a clear error', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2]);
  const y = g.input('y', 'float64', [2]);
  const loss = op.reduceSum(op.exp(x), [0], false);
  assert.throws(() => gradients(loss, [y]), GraphError);
});

test('shape errors name the op and the shapes', () => {
  const g = new Graph();
  const a = g.input('a', 'float32', [2, 3]);
  const b = g.input('b', 'float32', [4, 5]);
  assert.throws(() => op.matmul(a, b), /MatMul: inner dims differ: \[2, 3\] · \[4, 5\]/);
  assert.throws(() => op.add(a, b), /Add: shapes \[2, 3\] and \[4, 5\] do not broadcast/);
});
