/**
 * Hardening (issue 16, items 3, 8, 9): every failure of the command line is one line naming the
 * path or flag and what to do, with exit 2; an unexpected error is one line with a --debug hint.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { describeFatal } from '../../src/cli/fatal.ts';
import { cli, type Run } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-hard-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const DATA = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
const train = (out: string, ...extra: string[]): string[] => [
  'train', '--model', STORIES, '--train', DATA, '--max-train-examples', '16', '--template', '{text}\\nAbout',
  '--verbalizer', '{"girl":" girl","boy":" boy"}', '--steps', '2', '--batch-size', '8', '--lr', '0.1', '--out', out, ...extra,
];
const errno = (code: string, syscall: string, path: string): Error => Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

/** Exit 2 and exactly one stderr line matching `re`. */
function oneLine(r: Run, re: RegExp): void {
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

test('file-system errors name the path and what to do; others get one line and a --debug hint', () => {
  const cases: [Error, RegExp][] = [
    [errno('EACCES', 'open', '/data/train.jsonl'), /^softprompt: \/data\/train\.jsonl: permission denied \(open\); .* read$/],
    [errno('EROFS', 'mkdir', '/ro/run'), /^softprompt: \/ro\/run: the file system is read-only; choose a writable path$/],
    [errno('ENOSPC', 'write', '/run/checkpoints/x.tmp'), /^softprompt: \/run\/checkpoints\/x\.tmp: no space left on the device; .*--resume/],
    [errno('EEXIST', 'mkdir', '/run'), /^softprompt: \/run already exists and is not a folder/],
    [Object.assign(new Error('getaddrinfo ENOTFOUND not a host'), { code: 'ENOTFOUND', hostname: 'not a host' }), /cannot resolve the host "not a host"/],
  ];
  for (const [e, re] of cases) {
    const f = describeFatal(e);
    assert.equal(f.exitCode, 2);
    assert.match(f.message, re);
  }
  const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
  const f = describeFatal(bug);
  assert.equal(f.exitCode, 1);
  assert.equal(f.message, "softprompt: unexpected error: TypeError: Cannot read properties of undefined (reading 'id') (rerun with --debug for the stack trace)");
  assert.match(describeFatal(bug, true).message, /\n\s+at /);
});

test('the listed command-line failures are one line with exit 2', async () => {
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const adapter = join(tmp, 'bad-adapter');
  mkdirSync(adapter);
  writeFileSync(join(adapter, 'adapter_config.json'), '{');
  const runs = await Promise.all([
    cli(train(file)),
    cli(['library', 'init', file, '--model', STORIES]),
    cli(train(join(tmp, 'p'), '--method', 'p-tuning', '--encoder-hidden-size', '1000000000')),
    cli(train(join(tmp, 's'), '--seed', '1e20')),
    cli(['serve', '--model', STORIES, '--host', 'not a host', '--port', '0']),
    cli(['serve', '--model', STORIES, '--timeout-ms', '3000000000']),
    cli(['serve', '--model', STORIES, '--batch-window-ms', '2147483648']),
    cli(['generate', '--model', STORIES, '--prompt', 'hi', '--max-new-tokens', '100000']),
    cli(['generate', '--model', STORIES, '--adapter', adapter, '--prompt', 'hi']),
  ]);
  const [out, lib, enc, seed, host, timeout, window, tokens, corrupt] = runs as [Run, Run, Run, Run, Run, Run, Run, Run, Run];
  oneLine(out, new RegExp(`${file} already exists and is not a folder`));
  oneLine(lib, new RegExp(`${file}/tasks: part of this path is a file, not a folder`));
  oneLine(enc, /parameter "mlp_head\.0\.weight" would hold 6\.40e\+10 values .* --encoder-hidden-size/);
  oneLine(seed, /--seed .* at most 9007199254740991, got "1e20"/);
  oneLine(host, /cannot resolve the host "not a host"/);
  oneLine(timeout, /--timeout-ms .* at most 2147483647 ms/);
  oneLine(window, /--batch-window-ms .* at most 2147483647 ms/);
  oneLine(tokens, /^softprompt: --max-new-tokens 100000 is above the limit/);
  oneLine(corrupt, /adapter_config\.json: is not valid JSON/);
});

test('a corrupt checkpoint is one line naming state.json; --resume on an empty folder says it starts fresh', async () => {
  const run = join(tmp, 'run');
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const [first, fresh] = await Promise.all([cli(train(run, '--save-every', '1')), cli(train(empty, '--resume'))]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.match(fresh.stderr, new RegExp(`--resume: ${empty} holds no checkpoint; starting a fresh run`));
  const state = join(run, 'checkpoints', 'step-00000002', 'state.json');
  writeFileSync(state, '{"version": 1, "step":');
  oneLine(await cli(train(run, '--resume', '--steps', '4')), new RegExp(`${state}: not valid JSON .* the checkpoint is damaged`));
});
