/**
 * {soft:N} slots end to end: `train` with a slotted template writes an adapter that records it,
 * `eval` reloads it and reproduces training's own dev figure, the engine's classify scores it the
 * same way, and every disagreement between slots and adapter is a clear error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readSplit } from '../../src/data/readers.ts';
import { createEngine } from '../../src/infer/engine.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const TRAIN = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
const TEMPLATE = '{text}{soft:3}\\nThe story is about{soft:2} a';
const VERBALIZER = '{"girl": " girl", "boy": " boy"}';
const N = 32;

describe('{soft:N} slots through the CLI', () => {
  let tmp: string;
  let out: string;
  let trained: Record<string, unknown>;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'softprompt-slots-'));
    out = join(tmp, 'slotted');
    trained = lastJson(
      await cli([
        'train', '--model', STORIES, '--train', TRAIN, '--validation', VALID, '--max-eval-examples', String(N),
        '--template', TEMPLATE, '--verbalizer', VERBALIZER, '--init', 'text:Is the story about a girl or a boy?',
        '--lr', '0.3', '--steps', '6', '--batch-size', '8', '--seed', '3', '--out', out, '--json',
      ]),
    );
  });
  after(() => tmp && rmSync(tmp, { recursive: true, force: true }));

  test('the adapter holds as many virtual tokens as the slots and records the slotted template', () => {
    const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['num_virtual_tokens'], 5);
    const meta = JSON.parse(readFileSync(join(out, 'softprompt.json'), 'utf8')) as { template: { source: string } };
    assert.equal(meta.template.source, '{text}{soft:3}\nThe story is about{soft:2} a');
  });

  test("eval reloads the adapter and gives training's own dev accuracy; classify agrees", async () => {
    const j = lastJson(await cli(['eval', '--model', STORIES, '--adapter', out, '--data', VALID, '--max-examples', String(N), '--json']));
    assert.equal(j['n'], N);
    assert.equal(j['accuracy'], (trained['best'] as Record<string, unknown>)['accuracy']);
    const warnings: string[] = [];
    const engine = await createEngine({ model: STORIES, adapters: { slotted: out }, onWarning: (m) => warnings.push(m) });
    try {
      assert.ok(warnings.some((w) => /places the virtual tokens at \{soft:N\} slots/.test(w)), warnings.join('\n'));
      const records = await readSplit(VALID, N);
      const got = await engine.classify(records.map((r) => ({ task: 'slotted', input: r['text'] as string })));
      const accuracy = got.filter((g, i) => g.label === records[i]!['label']).length / N;
      assert.equal(accuracy, j['accuracy']);
      // The same adapter with its tokens moved to the front scores differently: the placement matters.
      const front = await engine.classify(records.map((r) => ({ task: 'slotted', input: r['text'] as string, template: '{soft:5}{text}\nThe story is about a' })));
      assert.ok(front.some((f, i) => Math.abs(f.scores['girl']! - got[i]!.scores['girl']!) > 1e-3));
      await assert.rejects(
        engine.classify([{ task: 'slotted', input: 'Tom ran.', template: '{text}{soft:4} The story is about a' }]),
        /slots hold 4 virtual tokens, but task slotted \(prompt_tuning\) has 5/,
      );
    } finally {
      await engine.close();
    }
  });

  test('inspect --discretize scores the soft prompt at its slots, as eval does', async () => {
    const e = lastJson(await cli(['eval', '--model', STORIES, '--adapter', out, '--data', VALID, '--max-examples', '8', '--json']));
    const r = lastJson(await cli(['inspect', out, '--model', STORIES, '--discretize', '--data', VALID, '--max-examples', '8', '--json']));
    assert.equal((r['soft'] as { accuracy: number }).accuracy, e['accuracy']);
  });

  test('slot counts that disagree with the adapter or the flags are errors', async () => {
    const cases: [string[], RegExp][] = [
      [['eval', '--model', STORIES, '--adapter', out, '--data', VALID, '--max-examples', '4', '--template', '{soft:4}{text} The story is about a'],
        /has \{soft:N\} slots for 4 virtual tokens but the adapter .* has 5 \(adapter_config\.json num_virtual_tokens\)/],
      [['eval', '--model', STORIES, '--data', VALID, '--max-examples', '4', '--template', '{soft:4}{text} a', '--verbalizer', VERBALIZER],
        /a hard prompt has nothing to fill them with: pass --adapter DIR/],
      [['eval', '--model', STORIES, '--adapter', out, '--data', VALID, '--max-examples', '4', '--shots', '1', '--demos-from', TRAIN],
        /1-shot with a \{soft:N\} template/],
      [['train', '--model', STORIES, '--train', TRAIN, '--template', TEMPLATE, '--verbalizer', VERBALIZER, '--virtual-tokens', '20', '--lr', '0.3', '--steps', '1', '--out', join(tmp, 'x')],
        /--virtual-tokens 20 disagrees with the template's \{soft:N\} slots, which hold 5/],
      [['train', '--model', STORIES, '--train', TRAIN, '--template', TEMPLATE, '--verbalizer', VERBALIZER, '--method', 'prefix-tuning', '--lr', '0.3', '--steps', '1', '--out', join(tmp, 'y')],
        /--method prefix-tuning puts its prefix into every layer's keys\/values/],
    ];
    for (const [args, want] of cases) {
      const r = await cli(args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, want);
    }
  });
});
