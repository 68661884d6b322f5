/** `softprompt eval` end to end through the bin, plus the demonstration-dropping logic in-process. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import { encodeSplit } from '../../src/data/split.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { readAllRecords } from '../../src/data/readers.ts';
import type { DataRecord } from '../../src/data/readers.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { createRng } from '../../src/data/rng.ts';
import { tensor } from '../../src/tensor.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { cli, lastJson } from '../helpers/cli.ts';

const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
const TRAIN = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
const TEMPLATE = '{text}\\nThe story is about a'; // as typed in a shell: \n is the CLI escape
const VERBALIZER = '{"girl":" girl","boy":" boy"}';




const base = ['eval', '--model', STORIES, '--data', VALID, '--template', TEMPLATE, '--verbalizer', VERBALIZER];

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-cli-eval-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('softprompt eval', { concurrency: true }, () => {
  test('zero-shot on all 400 story_gender validation examples: accuracy 0.45 (= HF PEFT)', async () => {
    const j = lastJson(await cli([...base, '--json']));
    assert.equal(j['n'], 400);
    assert.equal(j['accuracy'], 0.45);
    assert.equal(typeof j['macro_f1'], 'number');
    assert.equal(j['shots'], 0);
    assert.equal(j['template'], '{text}\nThe story is about a');
    assert.deepEqual(j['verbalizer'], { girl: ' girl', boy: ' boy' });
    const perClass = j['per_class'] as { label: string; gold: number }[];
    assert.deepEqual(
      perClass.map((c) => [c.label, c.gold]),
      [
        ['girl', 221],
        ['boy', 179],
      ],
    );
    assert.equal(j['runs'], undefined);
  });

  test('several shot settings, 4-shot balanced last: runs in JSON, top level from the last', async () => {
    const args = [...base, '--shots', '0,4', '--demos-from', TRAIN, '--demo-selection', 'balanced', '--max-examples', '40', '--json'];
    const j = lastJson(await cli(args));
    assert.equal(j['shots'], 4);
    assert.equal(j['n'], 40);
    assert.equal(j['demo_selection'], 'balanced');
    const runs = j['runs'] as { shots: number; n: number; accuracy: number }[];
    assert.deepEqual(
      runs.map((r) => [r.shots, r.n]),
      [
        [0, 40],
        [4, 40],
      ],
    );
    assert.equal(runs[1]!.accuracy, j['accuracy']);
  });

  test('the table has one row per shot setting with per-class counts', async () => {
    const r = await cli([...base, '--shots', '0,1', '--demos-from', TRAIN, '--max-examples', '8']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^setting\s+n\s+accuracy\s+macro-F1\s+girl\s+boy$/m);
    assert.match(r.stdout, /^0-shot\s+8\s+\d+\.\d%\s+\d+\.\d%\s+\d+\/\d+ \d+\.\d%/m);
    assert.match(r.stdout, /^1-shot random\s+8\s+/m);
    assert.equal(r.stderr, ''); // no progress line when stderr is not a terminal
  });

  test('--adapter takes template, verbalizer and label field from softprompt.json', async () => {
    const model = await loadModel(STORIES);
    const n = 4;
    const method = promptTuning(model.config, { numVirtualTokens: n });
    const rng = createRng(1);
    const data = Float32Array.from({ length: n * model.config.hiddenSize }, () => (rng() - 0.5) * 0.1);
    const dir = join(tmp, 'adapter');
    saveAdapter(dir, {
      method,
      trainable: { prompt_embeddings: tensor('float32', [n, model.config.hiddenSize], data) },
      config: model.config,
      fingerprint: fingerprintModel({ config: model.config, weights: model.weights }, STORIES),
      meta: { template: { source: '{text}\nThe story is about a' }, verbalizer: { girl: ' girl', boy: ' boy' }, label_field: 'label' },
    });
    const j = lastJson(await cli(['eval', '--model', STORIES, '--adapter', dir, '--data', VALID, '--max-examples', '20', '--json']));
    assert.equal(j['adapter'], dir);
    assert.equal(j['method'], 'prompt_tuning');
    assert.equal(j['peft_type'], 'PROMPT_TUNING');
    assert.equal(j['virtual_tokens'], n);
    assert.equal(j['template'], '{text}\nThe story is about a');
    assert.equal(j['n'], 20);
  });
});

describe('eval errors exit with 2 and name the file, line and field', { concurrency: true }, () => {
  const withData = (data: string, ...rest: string[]): string[] => ['eval', '--model', STORIES, '--data', data, '--template', TEMPLATE, '--verbalizer', VERBALIZER, ...rest];

  test('a malformed JSONL line', async () => {
    const file = join(tmp, 'malformed.jsonl');
    writeFileSync(file, '{"text": "Once upon a time", "label": "girl"}\n{"text": oops}\n');
    const r = await cli(withData(file));
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${file}:2:`), r.stderr);
    assert.match(r.stderr, /invalid JSON/);
  });

  test('a template slot the data does not have', async () => {
    const r = await cli(['eval', '--model', STORIES, '--data', VALID, '--template', '{story}\\nIt is about a', '--verbalizer', VERBALIZER]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${VALID}:1:`), r.stderr);
    assert.match(r.stderr, /no field "story"/);
  });

  test('a label with no verbalizer entry', async () => {
    const r = await cli(['eval', '--model', STORIES, '--data', VALID, '--template', TEMPLATE, '--verbalizer', '{"girl": " girl", "kid": " kid"}']);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${VALID}:1:`), r.stderr);
    assert.match(r.stderr, /label field "label" holds "boy", which has no verbalizer entry/);
  });

  test('an empty split', async () => {
    const file = join(tmp, 'empty.jsonl');
    writeFileSync(file, '');
    const r = await cli(withData(file));
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(file), r.stderr);
    assert.match(r.stderr, /empty split/);
  });

  test('an input that cannot fit even with the input field cut (a huge instruction)', async () => {
    const r = await cli([...withData(VALID, '--instruction', 'word '.repeat(600))]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${VALID}:1:`), r.stderr);
    assert.match(r.stderr, /longer than the context 512/);
    assert.match(r.stderr, /"text" empty/);
  });

  test('--shots without --demos-from', async () => {
    const r = await cli(withData(VALID, '--shots', '0,2'));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--demos-from/);
  });

  test('no template', async () => {
    const r = await cli(['eval', '--model', STORIES, '--data', VALID, '--verbalizer', VERBALIZER]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /pass --template/);
  });

  test('a verbalizer that is neither JSON nor a file', async () => {
    const r = await cli(withData(VALID).map((a) => (a === VERBALIZER ? 'girl-boy.json' : a)));
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /not inline JSON.*no file has that path/);
  });
});

describe('encodeSplit: demonstrations that overflow the context', () => {
  let model: LoadedModel;
  let valid: DataRecord[];
  let train: DataRecord[];
  before(async () => {
    model = await loadModel(STORIES);
    valid = (await readAllRecords(VALID)).slice(0, 12);
    train = await readAllRecords(TRAIN);
  });

  test('are dropped, last first, until the template fits; demonstrations are never cut', () => {
    const prompt = { template: new Template('{text}\nThe story is about a'), verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy' }), labelField: 'label' };
    const maxLength = 160;
    const split = encodeSplit(valid, prompt, { k: 4, strategy: 'balanced', seed: 0 }, train, model.tokenizer, maxLength);
    assert.equal(split.examples.length, valid.length);
    assert.ok(split.demosDropped > 0, 'expected some demonstrations to be dropped at 160 tokens');
    assert.ok(split.examplesWithDemosDropped > 0 && split.examplesWithDemosDropped <= valid.length);
    for (const e of split.examples) {
      assert.ok(e.promptIds.length + Math.max(...e.candidates.map((c) => c.length)) <= maxLength);
      // Whatever is left of the demonstrations ends with a complete answer and the separator.
      const text = model.tokenizer.decode(e.promptIds, { skipSpecialTokens: true });
      const demoPart = text.slice(0, text.lastIndexOf('\n\n') + 2);
      if (demoPart !== '') assert.match(demoPart, /The story is about a (girl|boy)\n\n$/);
    }
    assert.equal(split.truncateField, 'text');
  });

  test('an example that fits keeps all its demonstrations', () => {
    const prompt = { template: new Template('{text}\nThe story is about a'), verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy' }), labelField: 'label' };
    const split = encodeSplit(valid, prompt, { k: 1, strategy: 'random', seed: 0 }, train, model.tokenizer, 512);
    assert.equal(split.demosDropped, 0);
  });
});
