/** `softprompt train` through the bin: config files, run-length rules and input errors. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((r, i) => {
    assert.equal(r.status, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1], `case ${i}`);
  });
});
