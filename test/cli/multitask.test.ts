/**
 * Multitask prompt tuning end to end: `train --method multitask-prompt-tuning` on records with a
 * task field, `eval` per record or with --task, the engine serving each task, a target task started
 * from the source adapter (PEFT's source inits), and the errors for task ids that do not match.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { createEngine } from '../../src/infer/engine.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const VERBALIZER = '{"girl": " girl", "boy": " boy", "negative": " bad", "positive": " good"}';
const GENDER = '{"girl": " girl", "boy": " boy"}';
const lines = (file: string, n: number): Record<string, unknown>[] =>
  readFileSync(file, 'utf8').trim().split('\n').slice(0, n).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('multitask prompt tuning through the CLI', () => {
  let tmp: string;
  let train: string;
  let valid: string;
  let genderValid: string;
  let out: string;
  let trained: Record<string, unknown>;
  const common = (): string[] => ['--model', STORIES, '--template', '{text}\\nThe story is about a', '--verbalizer', VERBALIZER, '--lr', '0.3', '--batch-size', '8'];
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'softprompt-mpt-'));
    const mix = (split: string, n: number): string => {
      const g = lines(join(SHARED, 'datasets', 'story_gender', `${split}.jsonl`), n).map((r) => ({ ...r, task: 'gender' }));
      const s = lines(join(SHARED, 'datasets', 'sst2', `${split}.jsonl`), n).map((r) => ({ ...r, task: 'sentiment' }));
      return g.flatMap((r, i) => [r, s[i]!]).map((r) => JSON.stringify(r)).join('\n') + '\n';
    };
    train = join(tmp, 'train.jsonl');
    valid = join(tmp, 'validation.jsonl');
    genderValid = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
    writeFileSync(train, mix('train', 64));
    writeFileSync(valid, mix('validation', 16));
    out = join(tmp, 'mt');
    trained = lastJson(
      await cli(['train', ...common(), '--train', train, '--validation', valid, '--method', 'multitask-prompt-tuning', '--virtual-tokens', '8',
        '--init', 'text:Is the story about a girl or a boy?', '--steps', '6', '--seed', '2', '--out', out, '--json']),
    );
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  test("the adapter is PEFT's MULTITASK_PROMPT_TUNING with the tasks found in the data, in order", () => {
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['peft_type'], 'MULTITASK_PROMPT_TUNING');
    assert.equal(config['num_tasks'], 2);
    assert.equal(config['num_ranks'], 1);
    const meta = JSON.parse(readFileSync(join(out, 'softprompt.json'), 'utf8')) as { tasks: string[] };
    assert.deepEqual(meta.tasks, ['gender', 'sentiment']);
    const st = readSafetensors(join(out, 'adapter_model.safetensors'));
    assert.deepEqual([...st.get('prefix_task_cols')!.shape], [2, 8, 1]);
    assert.deepEqual([...st.get('prefix_task_rows')!.shape], [2, 1, 64]);
    assert.deepEqual([...st.get('prompt_embeddings')!.shape], [8, 64]);
  });

  test("eval with each record's task reproduces training's dev figure; --task scores a split without the field", async () => {
    const j = lastJson(await cli(['eval', '--model', STORIES, '--adapter', out, '--data', valid, '--json']));
    assert.equal(j['n'], 32);
    assert.equal(j['accuracy'], (trained['best'] as Record<string, unknown>)['accuracy']);
    const g = lastJson(await cli(['eval', '--model', STORIES, '--adapter', out, '--data', genderValid, '--max-examples', '16', '--task', 'gender', '--verbalizer', GENDER, '--json']));
    assert.equal(g['n'], 16);
    // The engine serves the same prompt as task "mt.gender" and agrees with eval --task.
    const engine = await createEngine({ model: STORIES, adapters: { mt: out }, onWarning: () => {} });
    try {
      assert.deepEqual(engine.tasks().map((t) => t.name).sort(), ['mt.gender', 'mt.sentiment']);
      const records = lines(genderValid, 16);
      const got = await engine.classify(records.map((r) => ({ task: 'mt.gender', input: r['text'] as string, verbalizer: JSON.parse(GENDER) as Record<string, string> })));
      assert.equal(got.filter((x, i) => x.label === records[i]!['label']).length / 16, g['accuracy']);
      const other = await engine.classify(records.slice(0, 4).map((r) => ({ task: 'mt.sentiment', input: r['text'] as string, verbalizer: JSON.parse(GENDER) as Record<string, string> })));
      assert.ok(other.some((o, i) => Math.abs(o.scores['girl']! - got[i]!.scores['girl']!) > 1e-4), 'the two tasks have different prompts');
    } finally {
      await engine.close();
    }
  });

  test('a target task starts from the source adapter (average-source-tasks, exact-source-task:NAME)', async () => {
    const src = readSafetensors(join(out, 'adapter_model.safetensors'));
    for (const [init, pick] of [['average-source-tasks', null], ['exact-source-task:sentiment', 1]] as const) {
      const target = join(tmp, `target-${pick ?? 'avg'}`);
      const genderOnly = join(tmp, 'gender.jsonl');
      // No task field: a one-task run (--tasks NAME) gives every record that task.
      writeFileSync(genderOnly, lines(genderValid, 8).map((r) => JSON.stringify(r)).join('\n') + '\n');
      // lr 0 and no weight decay: the saved params are exactly the init.
      lastJson(await cli(['train', ...common(), '--train', genderOnly, '--method', 'multitask-prompt-tuning', '--tasks', 'gender2', '--virtual-tokens', '8', '--init', init, '--init-from', out,
        '--lr', '1e-30', '--weight-decay', '0', '--steps', '1', '--out', target, '--json']));
      const config = JSON.parse(readFileSync(join(target, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      // PEFT re-runs a source init when it loads an adapter, so the config keeps the shared prompt's
      // init and names the source; softprompt.json records the source init itself.
      assert.equal(config['prompt_tuning_init_state_dict_path'], out);
      assert.equal(config['prompt_tuning_init_task'], pick ?? 0);
      const meta = JSON.parse(readFileSync(join(target, 'softprompt.json'), 'utf8')) as { source_init: { kind: string } };
      assert.equal(meta.source_init.kind, pick === null ? 'average_source_tasks' : 'exact_source_task');
      const t = readSafetensors(join(target, 'adapter_model.safetensors'));
      assert.deepEqual(Array.from(t.get('prompt_embeddings')!.data as Float32Array), Array.from(src.get('prompt_embeddings')!.data as Float32Array));
      const cols = src.get('prefix_task_cols')!.data as Float32Array; // [2, 8, 1]
      const want = Array.from({ length: 8 }, (_, i) => (pick === null ? Math.fround((cols[i]! + cols[8 + i]!) / 2) : cols[pick * 8 + i]!));
      const got = Array.from(t.get('prefix_task_cols')!.data as Float32Array);
      got.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-7, `${init} cols[${i}]: ${x} vs ${want[i]}`));
    }
  });

  test('inspect shows the shared prompt with a note; discretize, which needs one prompt, refuses', async () => {
    const r = await cli(['inspect', out, '--model', STORIES]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MULTITASK_PROMPT_TUNING: shown is the shared prompt/);
    const d = await cli(['inspect', out, '--model', STORIES, '--discretize', '--data', valid]);
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, /has no single prompt to discretise/);
  });

  test('per-task templates and verbalizers: each task ranks its own labels after its own template', async () => {
    const templates = JSON.stringify({ gender: '{text}\nThe story is about a', sentiment: '{text}\nIt was' });
    const verbalizers = JSON.stringify({ gender: JSON.parse(GENDER) as unknown, sentiment: { negative: ' bad', positive: ' good' } });
    const dir = join(tmp, 'per-task');
    const t = lastJson(
      await cli(['train', '--model', STORIES, '--train', train, '--validation', valid, '--template', templates, '--verbalizer', verbalizers,
        '--method', 'multitask-prompt-tuning', '--virtual-tokens', '8', '--lr', '0.3', '--batch-size', '8', '--steps', '4', '--out', dir, '--json']),
    );
    const meta = JSON.parse(readFileSync(join(dir, 'softprompt.json'), 'utf8')) as { task_prompts: Record<string, { template: { source: string }; verbalizer: Record<string, string> }> };
    assert.equal(meta.task_prompts['sentiment']!.template.source, '{text}\nIt was');
    assert.deepEqual(meta.task_prompts['sentiment']!.verbalizer, { negative: ' bad', positive: ' good' });
    const j = lastJson(await cli(['eval', '--model', STORIES, '--adapter', dir, '--data', valid, '--json']));
    assert.equal(j['accuracy'], (t['best'] as Record<string, unknown>)['accuracy']);
    // Every prediction is one of the record's own task's labels.
    const confusion = j['confusion'] as { labels: string[]; matrix: number[][] };
    const idx = (l: string): number => confusion.labels.indexOf(l);
    for (const g of ['girl', 'boy']) for (const p of ['negative', 'positive']) assert.equal(confusion.matrix[idx(g)]![idx(p)], 0, `${g} predicted as ${p}`);
    for (const g of ['negative', 'positive']) for (const p of ['girl', 'boy']) assert.equal(confusion.matrix[idx(g)]![idx(p)], 0, `${g} predicted as ${p}`);
    const c = await cli(['classify', '--model', STORIES, '--adapter', dir, '--task', 'sentiment', '--text', 'a fine film']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /^(negative|positive)\tnegative=/);
    const errors: [string[], RegExp][] = [
      [['--template', templates, '--verbalizer', JSON.stringify({ gender: JSON.parse(GENDER) as unknown })], /--verbalizer is given per task but not for "sentiment"/],
      [['--template', JSON.stringify({ gender: '{text} a', weather: '{text} b' }), '--verbalizer', verbalizers], /--template names task "weather", which is not one of the tasks: gender, sentiment/],
    ];
    for (const [extra, want] of errors) {
      const r = await cli(['train', '--model', STORIES, '--train', train, ...extra, '--method', 'multitask-prompt-tuning', '--lr', '0.3', '--steps', '1', '--out', join(tmp, 'bad')]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, want);
    }
    const r = await cli(['train', '--model', STORIES, '--train', train, '--template', templates, '--verbalizer', VERBALIZER, '--lr', '0.3', '--steps', '1', '--out', join(tmp, 'bad')]);
    assert.match(r.stderr, /a per-task --template .* needs --method multitask-prompt-tuning/);
    const e = await cli(['eval', '--model', STORIES, '--adapter', dir, '--data', valid, '--verbalizer', JSON.stringify({ weather: { sun: ' sun' } })]);
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /--verbalizer names task "weather", which is not a task of .*per-task; its tasks are: gender, sentiment/);
  });

  test('mismatched task ids are clear errors naming the file, line and field', async () => {
    const stray = join(tmp, 'stray.jsonl');
    writeFileSync(stray, [{ text: 'Tom ran.', label: 'boy', task: 'gender' }, { text: 'Sue ran.', label: 'girl', task: 'weather' }].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const cases: [string[], RegExp][] = [
      [['eval', '--model', STORIES, '--adapter', out, '--data', genderValid, '--max-examples', '4'], /validation\.jsonl:1: .*record has no task field "task"/],
      [['eval', '--model', STORIES, '--adapter', out, '--data', stray], /stray\.jsonl:2.*task field "task" holds "weather", which is not one of the tasks: gender, sentiment/],
      [['eval', '--model', STORIES, '--adapter', out, '--data', genderValid, '--task', 'weather'], /--task "weather" is not a task of .*; its tasks are: gender, sentiment/],
      [['train', ...common(), '--train', stray, '--method', 'multitask-prompt-tuning', '--tasks', 'gender,sentiment', '--steps', '1', '--out', join(tmp, 'e1')],
        /stray\.jsonl:2.*"weather", which is not one of the tasks: gender, sentiment/],
      [['train', ...common(), '--train', stray, '--method', 'multitask-prompt-tuning', '--init', 'exact-source-task:weather', '--init-from', out, '--steps', '1', '--out', join(tmp, 'e2')],
        /has no task named "weather"; its tasks are: gender, sentiment/],
      [['train', ...common(), '--train', stray, '--method', 'multitask-prompt-tuning', '--init-from', out, '--steps', '1', '--out', join(tmp, 'e3')],
        /say how to use the source with --init average-source-tasks/],
      [['train', ...common(), '--train', stray, '--method', 'prompt-tuning', '--tasks', 'a,b', '--steps', '1', '--out', join(tmp, 'e4')],
        /--tasks, --task-field and --num-ranks apply to --method multitask-prompt-tuning only/],
    ];
    for (const [args, want] of cases) {
      const r = await cli(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, want, args.join(' '));
    }
  });
});
