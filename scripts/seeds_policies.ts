/**
 * Seed study, replay pass (docs/seeds.md, "Selection and averaging"): on the prompts kept by
 * scripts/seeds_traj.ts, applies each selection rule using the carved dev split only, then scores
 * the chosen prompt on the validation split (never used to choose). One JSON line per (rule, seed)
 * to docs/seeds_policies.jsonl, with the rule's training cost in updates.
 *   node --import tsx scripts/seeds_policies.ts TASK_DIR RECIPE "SEEDS"
 */
import '../src/host_node.ts';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { encodeSplit } from '../src/data/split.ts';
import type { EncodedExample } from '../src/data/encode.ts';
import { readSplit } from '../src/data/readers.ts';
import { Template } from '../src/data/template.ts';
import { Verbalizer } from '../src/data/verbalizer.ts';
import { padIdOf } from '../src/data/collate.ts';
import { readSafetensors } from '../src/formats/safetensors.ts';
import { RankScorer } from '../src/eval/rank.ts';
import { createMethod } from '../src/methods/factory.ts';
import { loadModel } from '../src/pretrained/model.ts';
import { carveDev } from '../src/train/restarts.ts';
import { tensor } from '../src/tensor.ts';
import type { Tensor } from '../src/tensor.ts';

const [dir, recipe, seedsArg] = process.argv.slice(2);
if (!dir || !recipe || !seedsArg) throw new Error('usage: seeds_policies.ts TASK_DIR RECIPE "SEEDS"');
const taskName = basename(dir);
const task = JSON.parse(readFileSync(join(dir, 'task.json'), 'utf8')) as { template: string; verbalizer: Record<string, string> };
const template = new Template(task.template);
const verbalizer = new Verbalizer(task.verbalizer);
const model = await loadModel(process.env.MODEL ?? '../shared/models/stories260K');
const method = createMethod(model.config, { peftType: 'PROMPT_TUNING', numVirtualTokens: 20 });
const maxLength = model.config.maxPositions - 20;
const encode = (records: Awaited<ReturnType<typeof readSplit>>): EncodedExample[] =>
  encodeSplit(records, { template, verbalizer, labelField: 'label' }, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, maxLength).examples;
const scorer = await RankScorer.create(model.config, model.weights, method, { padId: padIdOf(model.tokenizer), batchRows: 32 });
const val = encode(await readSplit(join(dir, 'validation.jsonl')));
type Params = Record<string, Tensor<'float32'>>;
const acc = async (examples: EncodedExample[], p: Params): Promise<number> => {
  const r = await scorer.score(examples, p);
  return r.predictions.filter((i, k) => verbalizer.labels[i] === examples[k]!.label).length / examples.length;
};
const mean = (ps: Params[]): Params =>
  Object.fromEntries(Object.keys(ps[0]!).map((k) => {
    const out = new Float32Array(ps[0]![k]!.data.length);
    for (const p of ps) p[k]!.data.forEach((x, i) => (out[i] = out[i]! + x / ps.length));
    return [k, tensor('float32', ps[0]![k]!.shape, out)];
  }));

interface Eval { restart: number; step: number; dev: number; file: string }
const out = 'docs/seeds_policies.jsonl';
for (const seed of seedsArg.split(/\s+/).map(Number)) {
  const sdir = join('.tmp/traj', taskName, recipe, `s${seed}`);
  const evals = readFileSync(join(sdir, 'evals.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Eval);
  const restarts = Math.max(...evals.map((e) => e.restart)) + 1;
  const per = Math.max(...evals.map((e) => e.step));
  const epochSteps = per / 3;
  const dev = encode((await carveDev(join(dir, 'train.jsonl'), seed)).records);
  const load = (e: Eval): Params => Object.fromEntries(readSafetensors(join(sdir, 'kept', e.file))) as Params;
  // The replay scores as the trainer did: the first kept prompt's dev accuracy must match its log.
  const check = await acc(dev, load(evals[0]!));
  if (check !== evals[0]!.dev) throw new Error(`${sdir}: dev accuracy ${check} differs from the trainer's ${evals[0]!.dev}`);
  // Validation accuracy of a kept prompt, cached (scored only when a rule picks it).
  const cacheFile = join(sdir, 'val_cache.json');
  const cache = existsSync(cacheFile) ? (JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, number>) : {};
  const valOf = async (key: string, p: () => Params): Promise<number> => {
    if (cache[key] === undefined) {
      cache[key] = await acc(val, p());
      writeFileSync(cacheFile, JSON.stringify(cache));
    }
    return cache[key]!;
  };
  const of = (r: number): Eval[] => evals.filter((e) => e.restart === r);
  // First highest dev (restart order, then step order), as selectRestart and the trainer's `best` do.
  const pick = (cands: Eval[]): Eval => cands.reduce((b, e) => (e.dev > b.dev ? e : b));
  const emit = async (rule: string, e: Eval, updates: number): Promise<void> => {
    const line = { task: taskName, runs: recipe, rule, seed, restart: e.restart, step: e.step, dev: e.dev, accuracy: Math.round((await valOf(e.file, () => load(e))) * 10000) / 100, updates };
    appendFileSync(out, JSON.stringify(line) + '\n');
    console.log(JSON.stringify(line));
  };
  const atEpochEnd = (e: Eval): boolean => e.step % epochSteps === 0;
  // The latest of the highest (a tie goes to the longer-trained prompt).
  const pickLate = (cands: Eval[]): Eval => cands.reduce((b, e) => (e.dev >= b.dev ? e : b));
  for (const R of [3, 4, 5, 6].filter((x) => x <= restarts)) {
    const rs = [...Array(R).keys()];
    await emit(`best-of-${R}, epoch ends`, pick(rs.flatMap((r) => of(r).filter(atEpochEnd))), R * per);
    await emit(`best-of-${R}, epoch ends, latest on ties`, pickLate(rs.flatMap((r) => of(r).filter(atEpochEnd))), R * per);
    if (R !== 3 && R !== 6) continue;
    await emit(`best-of-${R}, every 20 updates`, pick(rs.flatMap((r) => of(r))), R * per);
    await emit(`best-of-${R}, finals`, pick(rs.map((r) => of(r).at(-1)!)), R * per);
  }
  // Short restarts: R restarts of one epoch, keep the best on dev at the epoch's end, continue it two more epochs.
  for (const R of [3, 4, 5, 6].filter((x) => x <= restarts)) {
    const first = pick([...Array(R).keys()].map((r) => of(r).find((e) => e.step === epochSteps)!));
    const cont = of(first.restart).filter((e) => e.step > epochSteps);
    await emit(`${R}×1 epoch, continue best, epoch ends`, pick([first, ...cont.filter(atEpochEnd)]), R * epochSteps + 2 * epochSteps);
    await emit(`${R}×1 epoch, continue best, final`, cont.at(-1)!, R * epochSteps + 2 * epochSteps);
  }
  // R restarts of 2 epochs, the best continues to the third (the default since this study); or successive halving:
  // the better half (rounded up) trains a second epoch, the best of those a third. Chosen: the best
  // epoch-end prompt on dev among all trained (the earliest on ties).
  const at = (r: number, epoch: number): Eval => of(r).find((e) => e.step === epoch * epochSteps)!;
  const rank = (rs: number[], epoch: number): number[] => [...rs].sort((a, b) => at(b, epoch).dev - at(a, epoch).dev || a - b);
  for (const R of [3, 4, 5, 6].filter((x) => x <= restarts)) {
    const all = [...Array(R).keys()];
    // The leader: the restart of the first highest dev value after epochs 1 and 2 (selectRestart's rule).
    const lead = pick(all.flatMap((r) => [at(r, 1), at(r, 2)])).restart;
    await emit(`${R}×2 epochs, continue best`, pick([...all.flatMap((r) => [at(r, 1), at(r, 2)]), at(lead, 3)]), R * 2 * epochSteps + epochSteps);
    const half = rank(all, 1).slice(0, Math.ceil(R / 2));
    const top = rank(half, 2)[0]!;
    await emit(`${R}×1 epoch, top ${half.length} a 2nd, best a 3rd`, pick([...all.map((r) => at(r, 1)), ...half.map((r) => at(r, 2)), at(top, 3)]), (R + half.length + 1) * epochSteps);
  }
  // The default's shape with finer looks: every 20 updates (the leader chosen on them too), or the
  // leader's last K kept prompts averaged and kept when that mean beats every epoch-end prompt on dev.
  for (const R of [5].filter((x) => x <= restarts)) {
    const all = [...Array(R).keys()];
    const seg = 2 * epochSteps;
    const lead20 = pick(all.flatMap((r) => of(r).filter((e) => e.step <= seg))).restart;
    await emit(`${R}×2 epochs, continue best, every 20 updates`, pick([...all.flatMap((r) => of(r).filter((e) => e.step <= seg)), ...of(lead20).filter((e) => e.step > seg)]), R * seg + epochSteps);
    const lead = pick(all.flatMap((r) => [at(r, 1), at(r, 2)])).restart;
    const epochEnds = [...all.flatMap((r) => [at(r, 1), at(r, 2)]), at(lead, 3)];
    for (const K of [2, 4]) {
      const last = of(lead).slice(-K);
      const p = mean(last.map(load));
      const key = `avg${K}-r${lead}`;
      const m: Eval = { restart: lead, step: last.at(-1)!.step, dev: await acc(dev, p), file: key };
      await valOf(key, () => p);
      for (const [rule, e] of [[`${R}×2 epochs, continue best, leader's mean of last ${K}`, m], [`${R}×2 epochs, continue best, or leader's mean of last ${K}`, pick([...epochEnds, m])]] as const) {
        const line = { task: taskName, runs: recipe, rule, seed, restart: e.restart, step: e.step, dev: e.dev, accuracy: Math.round((await valOf(e.file, () => load(e))) * 10000) / 100, updates: R * seg + epochSteps };
        appendFileSync(out, JSON.stringify(line) + '\n');
        console.log(JSON.stringify(line));
      }
    }
  }
  // Checkpoint averaging within one trajectory: the mean of its last K kept prompts (every 20 updates).
  for (const K of [2, 3, 4, 6]) {
    const avgs: Eval[] = [];
    for (let r = 0; r < Math.min(3, restarts); r++) {
      const last = of(r).slice(-K);
      const p = mean(last.map(load));
      const key = `avg${K}-r${r}`;
      const d = await acc(dev, p);
      const v = await valOf(key, () => p);
      avgs.push({ restart: r, step: last.at(-1)!.step, dev: d, file: key });
      cache[key] = v;
    }
    const w = pick(avgs);
    const line = { task: taskName, runs: recipe, rule: `best-of-3, mean of last ${K} (every 20)`, seed, restart: w.restart, step: w.step, dev: w.dev, accuracy: Math.round(cache[w.file]! * 10000) / 100, updates: 3 * per };
    appendFileSync(out, JSON.stringify(line) + '\n');
    console.log(JSON.stringify(line));
  }
}
await scorer.release();
