/** `softprompt train` through the bin: config files, run-length rules and input errors. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { residualPromptOutput } from '../../src/adapter/encoder.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { decodeTensor } from '../../src/adapter/meta.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { runTraining } from '../../src/train/run.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-train-cli-'));
const DATA = join(SHARED, 'datasets', 'story_gender');
const base = ['train', '--model', STORIES, '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl":" girl","boy":" boy"}', '--lr', '0.3'];

test('a config file supplies flags; --steps on the command line beats epochs from the file', async () => {
  const config = join(tmp, 'train.yaml');
  writeFileSync(config, `train: ${join(DATA, 'train.jsonl')}\nmax-train-examples: 32\nepochs: 3\nbatch-size: 8\nvirtual-tokens: 4\n`);
  const j = lastJson(await cli([...base, '--config', config, '--steps', '3', '--out', join(tmp, 'run'), '--json']));
  assert.equal(j['steps'], 3);
  assert.equal(j['stop_reason'], 'finished 3 updates');
});

test('input errors exit 2 and say what to pass', async () => {
  const cases: [string[], RegExp][] = [
    [[...base, '--epochs', '1', '--out', join(tmp, 'a')], /missing --train/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--out', join(tmp, 'b')], /missing run length: pass --epochs N or --steps N/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--epochs', '1', '--steps', '2', '--out', join(tmp, 'c')], /pass --epochs N or --steps N, not both/],
    [[...base, '--train', join(tmp, 'nope.jsonl'), '--epochs', '1', '--out', join(tmp, 'd')], /--train .*nope\.jsonl: no such file/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--epochs', '1', '--init', 'words', '--out', join(tmp, 'e')], /random.*vocab.*labels.*text/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--max-train-examples', '8', '--epochs', '1', '--patience', '2', '--out', join(tmp, 'f')], /--patience needs a validation split/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--epochs', '1', '--method', 'prompt-tuning', '--encoder-type', 'lstm', '--out', join(tmp, 'g')], /--encoder-type lstm applies to --method p-tuning only/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--steps', '2', '--restarts', '2', '--out', join(tmp, 'h')], /--restarts 2 applies to --epochs runs; a --steps run is one trajectory/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--epochs', '3', '--restart-epochs', '4', '--out', join(tmp, 'i')], /--restart-epochs must be an integer from 1 to --epochs \(3\), got 4/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--steps', '2', '--restart-epochs', '1', '--out', join(tmp, 'j')], /--restart-epochs applies to --epochs runs/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--steps', '2', '--method', 'p-tuning', '--reparam', 'residual', '--out', join(tmp, 'k')], /--reparam residual applies to --method prompt-tuning only/],
    [[...base, '--train', join(DATA, 'train.jsonl'), '--steps', '2', '--reparam', 'lstm', '--out', join(tmp, 'l')], /--reparam <how>' argument 'lstm' is invalid. Allowed choices are none, residual/],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((r, i) => {
    assert.equal(r.status, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1], `case ${i}`);
  });
});

test('--reparam residual trains through the residual MLP and saves its output as a plain PEFT prompt; the adapter evaluates and resumes its MLP', async () => {
  const out = join(tmp, 'residual');
  const j = lastJson(await cli([...base, '--train', join(DATA, 'train.jsonl'), '--max-train-examples', '32', '--batch-size', '8', '--virtual-tokens', '4', '--steps', '3', '--reparam', 'residual', '--encoder-hidden-size', '16', '--out', out, '--json']));
  assert.equal(j['steps'], 3);
  const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config['peft_type'], 'PROMPT_TUNING');
  const meta = JSON.parse(readFileSync(join(out, 'softprompt.json'), 'utf8')) as { encoder: Record<string, Parameters<typeof decodeTensor>[0]>; training: Record<string, unknown> };
  assert.deepEqual(Object.keys(meta.encoder).sort(), ['embedding.weight', 'layer_norm.bias', 'layer_norm.weight', 'mlp_head.0.bias', 'mlp_head.0.weight', 'mlp_head.2.bias', 'mlp_head.2.weight']);
  assert.equal(meta.training['reparam'], 'residual');
  const encoder = Object.fromEntries(Object.entries(meta.encoder).map(([k, v]) => [k, decodeTensor(v, 'softprompt.json', k)]));
  assert.deepEqual(encoder['mlp_head.0.weight']!.shape, [16, 64]);
  const saved = readSafetensors(join(out, 'adapter_model.safetensors'));
  assert.deepEqual([...saved.keys()], ['prompt_embeddings']);
  // The file holds the MLP's output, not the raw prompt (training moved the MLP off its init).
  assert.deepEqual(saved.get('prompt_embeddings')!.data, residualPromptOutput(encoder).data);
  assert.notDeepEqual(saved.get('prompt_embeddings')!.data, encoder['embedding.weight']!.data);
  const ev = await cli(['eval', '--model', STORIES, '--adapter', out, '--data', join(DATA, 'validation.jsonl'), '--max-examples', '8', '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  assert.doesNotMatch(ev.stderr, /ignored/);
  assert.equal((lastJson(ev)['n'] as number), 8);
  // Loaded back: inference runs the saved prompt; training (resume, --init-from) gets the MLP.
  const warnings: string[] = [];
  const a = loadAdapter(out, loadModelDir(STORIES), { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  assert.equal(a.method.encoder, undefined);
  assert.deepEqual(a.trainMethod.encoder, { type: 'residual', hiddenSize: 16 });
  assert.deepEqual(a.trainable['layer_norm.weight']!.data, encoder['layer_norm.weight']!.data);
});

test('the library refuses an unknown reparam by name before loading the model', async () => {
  await assert.rejects(
    runTraining({
      model: join(tmp, 'no-such-model'), train: join(DATA, 'train.jsonl'), steps: 1, out: join(tmp, 'bad-reparam'),
      template: new Template('{text}\nThe story is about a'), verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy' }),
      reparam: 'lstm' as 'residual',
    }),
    /--reparam: unknown value "lstm"; use one of none, residual/,
  );
});
