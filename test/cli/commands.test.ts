/** The command table behind lazy loading: it matches the commands, and `--help` loads none of them. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Help } from 'commander';
import { COMMANDS, commandToRun } from '../../src/cli/commands.ts';
import { BIN } from '../helpers/cli.ts';

test('each command is listed with the term and description the loaded command has', async () => {
  const help = new Help();
  for (const entry of COMMANDS) {
    const cmd = await entry.load();
    assert.equal(cmd.name(), entry.name);
    assert.equal(help.subcommandTerm(cmd), entry.term, entry.name);
    assert.equal(cmd.description(), entry.description, entry.name);
  }
});

test('commandToRun finds the command by its first word, and after help', () => {
  assert.equal(commandToRun(['train', '--help'])?.name, 'train');
  assert.equal(commandToRun(['help', 'serve'])?.name, 'serve');
  assert.equal(commandToRun(['--help']), undefined);
  assert.equal(commandToRun([]), undefined);
});

test('softprompt --version prints package.json version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

/** The CommonJS modules a bin run loaded (onnxruntime-node, fastify and yaml are CommonJS). */
function loadedModules(args: string[]): string[] {
  const probe = `data:text/javascript,import{createRequire}from'node:module';import{writeSync}from'node:fs';const c=createRequire(process.cwd()+'/').cache;process.on('exit',()=>writeSync(2,'\\nLOADED '+JSON.stringify(Object.keys(c))+'\\n'))`;
  const r = spawnSync(process.execPath, ['--import', probe, BIN, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, r.stderr);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

test('softprompt --help loads no command: no onnxruntime, fastify or yaml', () => {
  const heavy = (files: string[]): string[] => files.filter((f) => /node_modules\/(onnxruntime-node|fastify|yaml)\//.test(f));
  assert.deepEqual(heavy(loadedModules(['--help'])), []);
  // The probe sees them when a command does load them (serve's module imports fastify; onnxruntime-node
  // now loads only when a graph is first compiled, so no command's --help loads it).
  assert.ok(heavy(loadedModules(['serve', '--help'])).some((f) => f.includes('fastify')));
  assert.ok(!heavy(loadedModules(['train', '--help'])).some((f) => f.includes('onnxruntime-node')));
});
