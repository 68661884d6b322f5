/**
 * A Qwen2-style and a Gemma-3-style tiny model (the golden ones) through the bin: train → eval →
 * generate → serve. The two pipelines run side by side to keep the wall time down.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN, cli, lastJson } from '../helpers/cli.ts';
import { GOLDEN, SHARED } from '../helpers/paths.ts';
import { postHttp } from '../serve/helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-families-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const DATA = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');

/** Starts `softprompt serve`, returns its URL and a stopper (SIGTERM, resolves with the exit code). */
async function serve(model: string, adapters: string): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', model, '--adapters', adapters, '--port', '0']);
  let stderr = '';
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no start line in 30 s:\n${stderr}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
    child.on('close', () => fail(new Error(`exited before listening:\n${stderr}`)));
  });
  return { url, stop: () => (child.kill('SIGTERM'), exited) };
}

async function pipeline(name: string): Promise<void> {
  const model = join(GOLDEN, name);
  const runs = join(tmp, name);
  mkdirSync(runs);
  const out = join(runs, 'story');
  const train = lastJson(await cli([
    'train', '--model', model, '--train', DATA, '--max-train-examples', '16', '--batch-size', '8', '--steps', '4',
    '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl":" girl","boy":" boy"}', '--lr', '0.3', '--virtual-tokens', '4',
    '--out', out, '--json',
  ]));
  assert.equal(train['steps'], 4, name);
  const losses = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; loss?: number }).filter((e) => e.event === 'step').map((e) => e.loss!);
  assert.equal(losses.length, 4);
  assert.ok(losses.every(Number.isFinite), `${name}: losses ${losses}`);

  const ev = lastJson(await cli(['eval', '--model', model, '--adapter', out, '--data', DATA, '--max-examples', '8', '--json']));
  assert.equal(ev['n'], 8, name);
  assert.equal(ev['method'], 'prompt_tuning');
  assert.ok(typeof ev['accuracy'] === 'number');

  const gen = await cli(['generate', '--model', model, '--adapter', out, '--prompt', 'Once upon a time', '--max-new-tokens', '5', '--jsonl']);
  const g = lastJson(gen) as { ids: number[]; finish_reason: string };
  assert.equal(g.ids.length, 5, name);
  assert.equal(g.finish_reason, 'length');

  // serve: the adapter by its folder name gives the same greedy text as `generate`.
  const adapters = join(runs, 'adapters');
  mkdirSync(adapters);
  cpSync(out, join(adapters, 'story'), { recursive: true });
  const server = await serve(model, adapters);
  try {
    const r = await postHttp(server.url, '/v1/completions', { model: 'story', prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.choices[0].text, (lastJson(gen) as { text: string }).text, `${name}: serve and generate agree`);
  } finally {
    assert.equal(await server.stop(), 0);
  }
}

test('qwen2 and gemma3_text tiny models: train → eval → generate → serve through the bin', { timeout: 120_000 }, async () => {
  await Promise.all([pipeline('tiny-qwen2'), pipeline('tiny-gemma3')]);
});
