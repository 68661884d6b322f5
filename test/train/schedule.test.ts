import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeSchedule, parseSchedule, ScheduleError, scheduleFactor } from '../../src/train/schedule.ts';

// Values from HF transformers' lambdas, written out by hand for these points.
test('linear: warmup from 0, then decay to 0 at total, as get_linear_schedule_with_warmup', () => {
  const lr = makeSchedule({ kind: 'linear', lr: 0.3, warmupSteps: 10, totalSteps: 110 });
  assert.equal(lr(0), 0);
  assert.equal(lr(5), 0.15);
  assert.equal(lr(10), 0.3);
  assert.ok(Math.abs(lr(60) - 0.15) < 1e-15);
  assert.ok(Math.abs(lr(109) - 0.003) < 1e-15);
  assert.equal(lr(110), 0);
  assert.equal(lr(500), 0);
});

test('linear without warmup: the first update runs at the peak rate, update k at lr·(T−k)/T', () => {
  const lr = makeSchedule({ kind: 'linear', lr: 0.3, totalSteps: 300 });
  assert.equal(lr(0), 0.3);
  assert.ok(Math.abs(lr(150) - 0.15) < 1e-15);
  assert.ok(Math.abs(lr(299) - 0.001) < 1e-15);
});

test('cosine: half a cosine after warmup, as get_cosine_schedule_with_warmup', () => {
  const opts = { kind: 'cosine' as const, lr: 1, warmupSteps: 4, totalSteps: 104 };
  assert.equal(scheduleFactor(opts, 2), 0.5);
  assert.equal(scheduleFactor(opts, 4), 1);
  assert.ok(Math.abs(scheduleFactor(opts, 54) - 0.5) < 1e-15);
  assert.ok(Math.abs(scheduleFactor(opts, 29) - 0.5 * (1 + Math.cos(Math.PI / 4))) < 1e-15);
  assert.ok(scheduleFactor(opts, 104) < 1e-15);
});

test('constant: warmup then the peak rate for good', () => {
  const lr = makeSchedule({ kind: 'constant', lr: 0.01, warmupSteps: 2, totalSteps: 10 });
  assert.deepEqual([0, 1, 2, 3, 9, 50].map(lr), [0, 0.005, 0.01, 0.01, 0.01, 0.01]);
});

test('wsd: the peak rate for two thirds of the updates after warmup, then linear decay to 0 as linear decays', () => {
  const lr = makeSchedule({ kind: 'wsd', lr: 0.3, totalSteps: 240 });
  // 240 updates: constant through update 159, then 0.3·(240−k)/80, the third epoch of a 3-epoch run.
  assert.deepEqual([0, 100, 159, 160].map(lr), [0.3, 0.3, 0.3, 0.3]);
  assert.ok(Math.abs(lr(200) - 0.15) < 1e-15);
  assert.ok(Math.abs(lr(239) - 0.3 / 80) < 1e-15);
  assert.equal(lr(240), 0);
  const warm = { kind: 'wsd' as const, lr: 1, warmupSteps: 10, totalSteps: 100 };
  assert.equal(scheduleFactor(warm, 5), 0.5);
  assert.equal(scheduleFactor(warm, 70), 1);
  assert.ok(Math.abs(scheduleFactor(warm, 85) - 0.5) < 1e-15);
});

test('bad schedules are refused with the field named', () => {
  assert.throws(() => parseSchedule('exp'), (e: Error) => e instanceof ScheduleError && /--schedule: unknown schedule "exp"; use one of constant, linear, cosine/.test(e.message));
  assert.throws(() => makeSchedule({ kind: 'linear', lr: 0, totalSteps: 10 }), /learning rate must be a finite number > 0/);
  assert.throws(() => makeSchedule({ kind: 'linear', lr: 1, totalSteps: 10, warmupSteps: 11 }), /warmup \(11 steps\) is longer than the run \(10 steps\)/);
  assert.throws(() => makeSchedule({ kind: 'linear', lr: 1, totalSteps: 0 }), /total steps must be an integer >= 1/);
});
