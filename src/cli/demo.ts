/**
 * `softprompt demo`: the whole story on the embedded default (stories260K + story_gender).
 * It ranks the hard prompts, gives the best one its demonstrations, trains a soft prompt with
 * the PEFT reference recipe, reloads the saved adapter from disk and compares them all on the
 * same validation split.
 */
import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readAllRecords } from '../data/readers.ts';
import { SoftpromptError } from '../errors.ts';
import { intArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { loadModel } from '../pretrained/model.ts';
import { runEval } from './eval.ts';
import type { EvalFlags } from './eval.ts';
import { formatTable, oneLine, percent } from '../inspect/table.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';
import { rankTemplates, readTemplatesFile } from './rank_templates.ts';
import { packageRoot, resolveDataset } from '../pretrained/resolve.ts';
import { Template } from '../data/template.ts';
import { writeRunReport } from '../report/report.ts';
import { TRAIN_DEFAULTS } from '../train/defaults.ts';
import { runTraining } from '../train/run.ts';
import type { TrainRun } from '../train/run.ts';
import { trainProgress } from './progress.ts';

export interface DemoFlags {
  model?: string;
  data?: string;
  templates?: string;
  verbalizer: string;
  init: string;
  virtualTokens: number;
  lr: number;
  epochs: number;
  batchSize: number;
  shots: number;
  seed: number;
  out?: string;
  json?: boolean;
}

const quiet: Io = { out: () => {}, err: (l) => void process.stderr.write(`${l}\n`), progress: false };

function splitFile(dir: string, names: readonly string[], what: string): string {
  for (const n of names) if (existsSync(join(dir, n))) return join(dir, n);
  throw new SoftpromptError(`dataset folder ${dir} has no ${what} split (looked for ${names.join(', ')}); pass --data DIR with train.jsonl and validation.jsonl`);
}

export async function runDemo(flags: DemoFlags, io: Io = processIo): Promise<Record<string, unknown>> {
  const started = Date.now();
  const model = await loadModel(flags.model);
  const data = await resolveDataset(flags.data);
  if (!statSync(data.path).isDirectory()) throw new SoftpromptError(`--data ${data.path}: the demo needs a dataset folder with train.jsonl and validation.jsonl`);
  const trainFile = splitFile(data.path, ['train.jsonl', 'train.csv', 'train.parquet'], 'train');
  const valFile = splitFile(data.path, ['validation.jsonl', 'validation.csv', 'validation.parquet', 'test.jsonl'], 'validation');
  const templates = readTemplatesFile(flags.templates ?? join(packageRoot(), 'examples', 'story_gender', 'templates.yaml'));
  const verbalizer = verbalizerArg(flags.verbalizer);
  const records = await readAllRecords(valFile);
  const say = (l: string): void => io.err(l);

  say(`softprompt demo: ${model.dir} (${model.config.modelType}, hidden ${model.config.hiddenSize}, ${model.config.numLayers} layers; from ${model.source})`);
  say(`data: ${data.path} (from ${data.source}); scoring ${records.length} validation examples\n`);

  // 1. Hard prompts: every template zero-shot, ranked.
  say(`1/3 hard prompts: ranking ${templates.length} templates zero-shot…`);
  const ranked = await rankTemplates({ model, data: valFile, records, templates, verbalizers: [{ name: 'verbalizer', verbalizer }] }, quiet);
  const best = ranked.best;
  for (const l of formatTable(
    ['template', 'accuracy', 'macro-F1'],
    ranked.results.map((r) => [oneLine(r.template.template, 60), percent(r.report.accuracy), percent(r.report.macroF1)]),
    ['left', 'right', 'right'],
  )) say(`   ${l}`);

  // The best template with demonstrations from the training split.
  const shots = [...new Set([1, flags.shots])].filter((k) => k > 0);
  say(`   best template ${oneLine(best.template.template, 50)} with ${shots.join(' and ')} balanced demonstrations…`);
  const evalBase: EvalFlags = {
    model: model.dir,
    data: valFile,
    template: best.template.template,
    verbalizer: flags.verbalizer,
    demosFrom: trainFile,
    demoSelection: 'balanced',
    seed: flags.seed,
    batchSize: 16,
    shots,
    ...(best.template.instruction !== undefined ? { instruction: best.template.instruction } : {}),
  };
  const fewShot = await runEval(evalBase, quiet, () => false);

  // 2. Train a soft prompt with the reference recipe.
  const out = resolve(flags.out ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`));
  const template = templates[0]!.template; // the task's own template: soft prompts start from the plain one
  say(`\n2/3 prompt tuning: ${flags.virtualTokens} virtual tokens, init ${flags.init}, AdamW lr ${flags.lr} (${TRAIN_DEFAULTS.schedule} schedule), batch ${flags.batchSize}, ${flags.epochs} epochs, ${TRAIN_DEFAULTS.restarts} restarts, the best on a dev split carved from the training split continued → ${out}`);
  // The library's training run with its defaults (TRAIN_DEFAULTS); only the demo's own choices are set.
  // No validation split: the restarts are chosen on a dev split carved from train, never on the split reported below.
  const progress = trainProgress();
  let trained: TrainRun;
  try {
    trained = await runTraining({
      model,
      train: trainFile,
      template: new Template(template, { source: 'templates[0]' }),
      verbalizer,
      method: 'PROMPT_TUNING',
      numVirtualTokens: flags.virtualTokens,
      init: flags.init,
      lr: flags.lr,
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      seed: flags.seed,
      out,
      onEvent: (e) => progress.onEvent(e),
      onWarning: (m) => quiet.err(`softprompt: warning: ${m}`),
    });
  } finally {
    progress.stop();
  }
  quiet.err(`report: ${await writeRunReport(out, { model })}`);

  // 3. The saved adapter, reloaded from disk, on the same split.
  say(`\n3/3 evaluating the saved adapter from ${out}…`);
  const soft = await runEval({ model: model.dir, adapter: out, data: valFile, demoSelection: 'balanced', seed: flags.seed, batchSize: 16 }, quiet, () => false);

  // The task template is templates[0], so rankTemplates scored it (same verbalizer).
  const taskTemplate = ranked.results.find((r) => r.template.template === template)!.report;
  const rows: { name: string; acc: number; f1: number }[] = [
    { name: `zero-shot, task template ${oneLine(template, 40)}`, acc: taskTemplate.accuracy, f1: taskTemplate.macroF1 },
    { name: `zero-shot, best of ${templates.length} templates`, acc: best.report.accuracy, f1: best.report.macroF1 },
    ...fewShot.runs.map((r) => ({ name: `${r.shots}-shot balanced, best template`, acc: r.report.accuracy, f1: r.report.macroF1 })),
    { name: `soft prompt (${flags.virtualTokens} virtual tokens, ${trained.result.steps} updates)`, acc: soft.runs[0]!.report.accuracy, f1: soft.runs[0]!.report.macroF1 },
  ];
  const bestHard = Math.max(...rows.slice(0, -1).map((r) => r.acc));
  const softAcc = rows.at(-1)!.acc;
  const seconds = (Date.now() - started) / 1000;
  const json = {
    command: 'demo',
    model: model.dir,
    data: data.path,
    n: records.length,
    results: rows.map((r) => ({ prompt: r.name, accuracy: r.acc, macro_f1: r.f1 })),
    best_hard_prompt_accuracy: bestHard,
    soft_prompt_accuracy: softAcc,
    accuracy: softAcc,
    macro_f1: rows.at(-1)!.f1,
    gain: softAcc - bestHard,
    adapter: out,
    elapsed_s: Number(seconds.toFixed(1)),
  };
  if (flags.json) io.out(JSON.stringify(json));
  else {
    io.out('');
    io.out(`${model.config.modelType} model ${model.dir}, frozen; ${records.length} validation examples of ${data.path}`);
    for (const l of formatTable(['prompt', 'accuracy', 'macro-F1'], rows.map((r) => [r.name, percent(r.acc), percent(r.f1)]), ['left', 'right', 'right'])) io.out(l);
    io.out('');
    io.out(`the soft prompt beats the best hard prompt by ${((softAcc - bestHard) * 100).toFixed(1)} points (${seconds.toFixed(0)} s in all)`);
    io.out(`adapter (PEFT format): ${out}   try: softprompt eval --adapter ${out} --data ${valFile}`);
  }
  return json;
}

const DEMO_HELP = `
Model: --model (a folder, or a Hugging Face Hub id, downloaded when online), then $SOFTPROMPT_MODEL,
then ../shared/models/stories260K (beside the working folder or the checkout).
Data: --data DIR (train.jsonl + validation.jsonl), then $SOFTPROMPT_DATA, then
../shared/datasets/story_gender.

Examples:
  softprompt demo
  softprompt demo --seed 3 --out runs/demo
  softprompt demo --model ../shared/models/stories260K --data ../shared/datasets/story_gender --json
`;

export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('hard prompts vs a trained soft prompt on the default task (stories260K, story_gender): ranks templates, few-shot, trains, compares')
    .option('--model <dir>', 'model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--data <dir>', 'dataset folder with train and validation splits (default: $SOFTPROMPT_DATA, then ../shared/datasets/story_gender)')
    .option('--templates <file>', 'hard-prompt templates to rank (default: examples/story_gender/templates.yaml; the first is the task template)')
    .option('--verbalizer <json|file>', 'label -> continuation', '{"girl": " girl", "boy": " boy"}')
    .option('--init <how>', 'soft-prompt init: random | vocab | labels | text:"…"', TRAIN_DEFAULTS.init)
    .option('--virtual-tokens <n>', 'virtual tokens', intArg(1), TRAIN_DEFAULTS.numVirtualTokens)
    .option('--lr <x>', 'peak learning rate', (v) => Number(v), TRAIN_DEFAULTS.lr)
    .option('--epochs <n>', 'training epochs', intArg(1), TRAIN_DEFAULTS.epochs)
    .option('--batch-size <n>', 'training batch size', intArg(1), TRAIN_DEFAULTS.batchSize)
    .option('--shots <k>', 'demonstrations for the best hard prompt (besides 1)', intArg(0), 4)
    .option('--seed <n>', 'seed for shuffling, init and demonstrations', intArg(0), TRAIN_DEFAULTS.seed)
    .option('--out <dir>', 'where to save the adapter (default: runs/demo-<time>)')
    .option('--json', 'print one JSON object as the last line of stdout');
  withConfigFile(cmd, { structured: ['verbalizer'] });
  cmd.addHelpText('after', DEMO_HELP);
  cmd.action(async (_o: unknown, self: Command) => {
    await runDemo(self.opts<DemoFlags>());
  });
  return cmd;
}
