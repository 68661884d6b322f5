/**
 * Seed study, trajectory pass (docs/seeds.md, "Selection and averaging"): trains the default
 * recipe's restarts for one seed with the dev split carved from --train scored every EVERY
 * updates, and keeps the prompt at each of those evaluations. scripts/seeds_policies.ts then
 * replays selection rules (per epoch, per evaluation, checkpoint averages, short restarts
 * continued) on the kept prompts: the training is the same run for each rule, since an
 * evaluation never changes the trajectory.
 *   node --import tsx scripts/seeds_traj.ts TASK_DIR SEED RESTARTS EVERY [extra: lr=0.3 init=random]
 * Writes .tmp/traj/TASK/RECIPE/sSEED/{restarts/rN/, kept/rN-step-NNNN.safetensors, evals.jsonl}.
 */
import '../src/host_node.ts';
import { copyFileSync, mkdirSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Template } from '../src/data/template.ts';
import { Verbalizer } from '../src/data/verbalizer.ts';
import { loadModel } from '../src/pretrained/model.ts';
import { runTraining } from '../src/train/run.ts';

const [dir, seedArg, restartsArg, everyArg, ...extra] = process.argv.slice(2);
if (!dir || !seedArg || !restartsArg || !everyArg) throw new Error('usage: seeds_traj.ts TASK_DIR SEED RESTARTS EVERY [lr=X] [init=SPEC] [name=RECIPE]');
const kv = Object.fromEntries(extra.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
const task = JSON.parse(readFileSync(join(dir, 'task.json'), 'utf8')) as { template: string; verbalizer: Record<string, string> };
const seed = Number(seedArg);
const recipe = kv['name'] ?? 'traj';
const out = join('.tmp/traj', basename(dir), recipe, `s${seed}`);
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'kept'), { recursive: true });
const model = await loadModel(process.env.MODEL ?? '../shared/models/stories260K');
let restart = -1;
let lastEval: Record<string, unknown> | null = null;
const t0 = Date.now();
await runTraining({
  model,
  train: join(dir, 'train.jsonl'),
  template: new Template(task.template),
  verbalizer: new Verbalizer(task.verbalizer),
  epochs: 3,
  seed,
  restarts: Number(restartsArg),
  restartEpochs: 3, // every restart a full run: the replay cuts them itself
  evalEvery: Number(everyArg),
  ...(kv['lr'] ? { lr: Number(kv['lr']) } : {}),
  ...(kv['init'] ? { init: kv['init'] } : {}),
  out: join(out, 'run'),
  onEvent: (e) => {
    if (e.kind === 'start') restart++;
    if (e.kind === 'eval') lastEval = { restart, step: e.step, epoch: e.epoch, dev: e.metrics['accuracy'], s: (Date.now() - t0) / 1000 };
    // The checkpoint written right after an evaluation holds the evaluated prompt.
    if (e.kind === 'checkpoint' && lastEval && lastEval['step'] === e.step && lastEval['restart'] === restart) {
      const name = `r${restart}-step-${String(e.step).padStart(4, '0')}.safetensors`;
      copyFileSync(join(e.dir, 'params.safetensors'), join(out, 'kept', name));
      appendFileSync(join(out, 'evals.jsonl'), JSON.stringify({ ...lastEval, file: name }) + '\n');
      lastEval = null;
    }
  },
  onWarning: (m) => console.error(`warning: ${m}`),
});
console.log(`${out}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
