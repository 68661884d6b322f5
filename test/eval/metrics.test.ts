/** Metrics against hand-computed values. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  accuracy,
  classificationReport,
  confusionMatrix,
  exactMatch,
  exactMatches,
  labelSet,
  macroF1,
  MetricsError,
  normalizeWhitespace,
  perClassCounts,
} from '../../src/eval/metrics.ts';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

// Gold a a a b b c ; predicted a a b b b a. Class c is gold once and never predicted.
const gold = ['a', 'a', 'a', 'b', 'b', 'c'];
const pred = ['a', 'a', 'b', 'b', 'b', 'a'];

test('accuracy counts equal pairs', () => {
  close(accuracy(gold, pred), 4 / 6);
  close(accuracy(['x'], ['x']), 1);
});

test('per-class counts and macro-F1 by hand, with a class never predicted', () => {
  // a: gold 3, predicted 3, correct 2 -> P 2/3, R 2/3, F1 2/3
  // b: gold 2, predicted 3, correct 2 -> P 2/3, R 1,   F1 2·(2/3)/(5/3) = 4/5
  // c: gold 1, predicted 0, correct 0 -> P 0 (zero_division), R 0, F1 0
  const pc = perClassCounts(gold, pred);
  assert.deepEqual(pc.map((c) => c.label), ['a', 'b', 'c']);
  assert.deepEqual(pc.map((c) => [c.gold, c.predicted, c.correct]), [[3, 3, 2], [2, 3, 2], [1, 0, 0]]);
  close(pc[0]!.precision, 2 / 3);
  close(pc[0]!.recall, 2 / 3);
  close(pc[0]!.f1, 2 / 3);
  close(pc[1]!.precision, 2 / 3);
  close(pc[1]!.recall, 1);
  close(pc[1]!.f1, 0.8);
  assert.equal(pc[2]!.precision, 0);
  assert.equal(pc[2]!.recall, 0);
  assert.equal(pc[2]!.f1, 0);
  assert.ok(pc.every((c) => c.counted));
  close(macroF1(gold, pred), (2 / 3 + 0.8 + 0) / 3); // 0.48888...
});

test('a class in the label set that is never gold nor predicted is skipped by macro-F1', () => {
  const labels = ['a', 'b', 'c', 'd'];
  const pc = perClassCounts(gold, pred, labels);
  assert.equal(pc[3]!.counted, false);
  assert.equal(pc[3]!.f1, 0);
  close(macroF1(gold, pred, labels), (2 / 3 + 0.8) / 3);
});

test('a class predicted but never gold counts with F1 0', () => {
  // gold x x y, pred x z y: x P1 R1/2 F1 2/3; y 1; z P0 R0 F1 0 -> (2/3+1+0)/3
  close(macroF1(['x', 'x', 'y'], ['x', 'z', 'y']), (2 / 3 + 1) / 3);
});

test('predictions outside an explicit label set: wrong, no false positive, unlisted in the matrix', () => {
  const g = ['x', 'y', 'y'];
  const p = ['x', 'y', '???'];
  const pc = perClassCounts(g, p, ['x', 'y']);
  assert.deepEqual(pc.map((c) => [c.gold, c.predicted, c.correct]), [[1, 1, 1], [2, 1, 1]]);
  close(macroF1(g, p, ['x', 'y']), (1 + 2 / 3) / 2); // y: P 1, R 1/2, F1 2/3
  const cm = confusionMatrix(g, p, ['x', 'y']);
  assert.deepEqual(cm.matrix, [[1, 0], [0, 1]]);
  assert.equal(cm.unlisted, 1);
});

test('confusion matrix: rows gold, columns predicted', () => {
  const cm = confusionMatrix(gold, pred);
  assert.deepEqual(cm.labels, ['a', 'b', 'c']);
  assert.deepEqual(cm.matrix, [
    [2, 1, 0],
    [0, 2, 0],
    [1, 0, 0],
  ]);
  assert.equal(cm.unlisted, 0);
  assert.deepEqual(confusionMatrix(gold, pred, ['c', 'b', 'a']).matrix, [
    [0, 0, 1],
    [0, 2, 0],
    [0, 1, 2],
  ]);
});

test('classification report bundles the metrics', () => {
  const r = classificationReport(gold, pred);
  assert.equal(r.n, 6);
  close(r.accuracy, 4 / 6);
  close(r.macroF1, macroF1(gold, pred));
  assert.deepEqual(r.confusion.matrix, confusionMatrix(gold, pred).matrix);
  assert.equal(r.perClass.length, 3);
});

test('label set: first appearance by default, duplicates rejected', () => {
  assert.deepEqual(labelSet(['b', 'a'], ['c', 'b']), ['b', 'a', 'c']);
  assert.throws(() => labelSet([], [], ['a', 'a']), MetricsError);
});

test('length mismatch and empty inputs are errors', () => {
  assert.throws(() => accuracy(['a'], []), (e: unknown) => e instanceof MetricsError && /1 gold labels but 0 predictions/.test(e.message));
  assert.throws(() => macroF1([], []), MetricsError);
  assert.throws(() => exactMatch([], []), MetricsError);
});

test('exact match, with and without whitespace normalisation', () => {
  const g = ['the cat', 'a  dog', 'x'];
  const p = ['the cat', ' a dog\n', 'y'];
  assert.deepEqual(exactMatches(g, p), [true, false, false]);
  close(exactMatch(g, p), 1 / 3);
  close(exactMatch(g, p, { normalize: true }), 2 / 3);
  assert.equal(normalizeWhitespace('  a \t b\n\nc '), 'a b c');
  // Normalisation does not change case or punctuation.
  assert.equal(exactMatch(['Cat.'], ['cat']), 0);
  assert.equal(exactMatch(['Cat.'], ['cat'], { normalize: true }), 0);
});
