/**
 * Hardening (issue 16, item 5): `generate` ends cleanly on Ctrl-C / SIGTERM: one line saying it
 * was interrupted and exit 130/143 (as `train`). Ordered, not timed: the signal is sent once the
 * command has shown it is at work (its first streamed text). (`eval` has the same handler; it
 * prints nothing while it runs without a terminal, so no spawned test can order a signal.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BIN } from '../helpers/cli.ts';
import { STORIES } from '../helpers/paths.ts';

async function interrupted(args: string[], sig: NodeJS.Signals, ready: (out: string, err: string) => boolean): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  const check = (): void => {
    if (!sent && ready(stdout, stderr)) {
      sent = true;
      child.kill(sig);
    }
  };
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), check()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), check()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  return { code, stderr };
}

test('generate: SIGINT while streaming prints one line and exits 130', { timeout: 60_000 }, async () => {
  const r = await interrupted(['generate', '--model', STORIES, '--prompt', 'Once upon a time', '--max-new-tokens', '480', '--no-eos'], 'SIGINT', (out) => out.length > 0);
  assert.equal(r.code, 130, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(lines, ['softprompt: SIGINT: generation interrupted (send SIGINT again to exit at once)']);
});
