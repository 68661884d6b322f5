/** --config FILE: the generic helper on a bare command, and `softprompt eval --config` end to end. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command, Option } from 'commander';
import { intArg, parseShots } from '../../src/cli/args.ts';
import { ConfigFileError, withConfigFile } from '../../src/cli/config.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { cli, lastJson } from '../helpers/cli.ts';

const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-cli-config-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

/** A command shaped like eval's, equipped with --config; resolves to its option values. */
async function parse(argv: string[]): Promise<{ opts: Record<string, unknown>; sources: Record<string, string | undefined> }> {
  const cmd = new Command('probe')
    .option('--max-examples <n>', 'n', intArg(1))
    .option('--seed <n>', 'seed', intArg(0), 0)
    .option('--template <text>', 'template')
    .option('--json', 'json')
    .option('--shots <k>', 'shots', parseShots)
    .option('--verbalizer <json>', 'verbalizer')
    .addOption(new Option('--demo-selection <how>').choices(['random', 'balanced']).default('random'));
  withConfigFile(cmd, { structured: ['shots', 'verbalizer'] });
  cmd.exitOverride().action(() => {});
  await cmd.parseAsync(argv, { from: 'user' });
  const opts = cmd.opts();
  const sources = Object.fromEntries(Object.keys(opts).map((k) => [k, cmd.getOptionValueSource(k)]));
  return { opts, sources };
}

async function configError(text: string, name = 'bad.yaml'): Promise<ConfigFileError> {
  const file = write(name, text);
  try {
    await parse(['--config', file]);
  } catch (e) {
    assert.ok(e instanceof ConfigFileError, String(e));
    assert.ok(e.message.startsWith(file), e.message);
    return e;
  }
  assert.fail('expected a ConfigFileError');
}

describe('withConfigFile', () => {
  test('YAML supplies flags by kebab or camel name, through the flag parsers', async () => {
    const file = write(
      'ok.yaml',
      ['max-examples: 40', 'seed: 7', 'json: true', 'template: |-', '  {text}', '  The story is about a', 'shots: [0, 1, 4]', 'verbalizer: {girl: " girl", boy: " boy"}', 'demoSelection: balanced', ''].join('\n'),
    );
    const { opts, sources } = await parse(['--config', file]);
    assert.equal(opts['maxExamples'], 40);
    assert.equal(opts['seed'], 7);
    assert.equal(opts['json'], true);
    assert.equal(opts['template'], '{text}\nThe story is about a');
    assert.deepEqual(opts['shots'], [0, 1, 4]);
    assert.deepEqual(JSON.parse(opts['verbalizer'] as string), { girl: ' girl', boy: ' boy' });
    assert.equal(opts['demoSelection'], 'balanced');
    assert.equal(sources['maxExamples'], 'config');
  });

  test('flags on the command line override the file; defaults lose to it', async () => {
    const file = write('ok.json', JSON.stringify({ maxExamples: 40, seed: 3, template: 'a {text}' }));
    const { opts, sources } = await parse(['--max-examples', '5', '--config', file]);
    assert.equal(opts['maxExamples'], 5);
    assert.equal(sources['maxExamples'], 'cli');
    assert.equal(opts['seed'], 3);
    assert.equal(opts['template'], 'a {text}');
  });

  test('an empty file sets nothing', async () => {
    const { opts } = await parse(['--config', write('empty.yaml', '')]);
    assert.equal(opts['seed'], 0);
  });

  test('an unknown key names the file, line and key, and lists the known ones', async () => {
    const e = await configError('seed: 1\nmax-exampels: 4\n');
    assert.equal(e.key, 'max-exampels');
    assert.equal(e.line, 2);
    assert.match(e.message, /:2: key "max-exampels": unknown key .*max-examples/);
  });

  test('an unknown key in JSON has its line too', async () => {
    const e = await configError('{\n  "seed": 1,\n  "temperature": 0.5\n}\n', 'bad.json');
    assert.equal(e.key, 'temperature');
    assert.equal(e.line, 3);
  });

  test('wrong types name the key', async () => {
    assert.match((await configError('json: "yes"\n')).message, /key "json": --json is a switch; the value must be true or false/);
    assert.match((await configError('max-examples: lots\n')).message, /key "max-examples": .*expected an integer >= 1/);
    assert.match((await configError('max-examples: 0\n')).message, /key "max-examples"/);
    assert.match((await configError('template: [a, b]\n')).message, /key "template": --template <text> takes text, not a list/);
    assert.match((await configError('template: 5\n')).message, /key "template"/);
    assert.match((await configError('demo-selection: nearest\n')).message, /key "demo-selection": .*random, balanced/);
    assert.match((await configError('config: other.yaml\n')).message, /key "config": unknown key/);
  });

  test('the same flag twice (kebab and camel) is an error', async () => {
    assert.match((await configError('max-examples: 4\nmaxExamples: 5\n')).message, /already set by key "max-examples"/);
  });

  test('syntax errors and non-mappings name the file and line', async () => {
    const e = await configError('seed: 1\ntemplate: "unclosed\n');
    assert.match(e.message, /not valid YAML/);
    assert.ok(e.line !== undefined);
    assert.match((await configError('- seed\n- json\n')).message, /must be a mapping/);
    const trailing = await configError('{\n  "seed": 1,\n}\n', 'trailing.json');
    assert.match(trailing.message, /not valid JSON/);
    assert.equal(trailing.line, 3);
  });

  test('a --no-X switch is set by "X: false"', async () => {
    const cmd = new Command('probe').option('--no-progress', 'quiet');
    withConfigFile(cmd);
    cmd.exitOverride().action(() => {});
    await cmd.parseAsync(['--config', write('neg.yaml', 'progress: false\n')], { from: 'user' });
    assert.equal(cmd.opts()['progress'], false);
  });

  test('a missing config file', async () => {
    await assert.rejects(parse(['--config', join(tmp, 'nope.yaml')]), /nope\.yaml: no such config file/);
  });
});




describe('softprompt eval --config', { concurrency: true }, () => {
  test('a YAML config supplies every flag, multi-line template included', async () => {
    const file = write(
      'eval.yaml',
      [
        `model: ${JSON.stringify(STORIES)}`,
        `data: ${JSON.stringify(VALID)}`,
        'template: |-',
        '  {text}',
        '  The story is about a',
        'verbalizer:',
        '  girl: " girl"',
        '  boy: " boy"',
        'max-examples: 12',
        'json: true',
        '',
      ].join('\n'),
    );
    const j = lastJson(await cli(['eval', '--config', file]));
    assert.equal(j['n'], 12);
    assert.equal(j['template'], '{text}\nThe story is about a');
    assert.deepEqual(j['verbalizer'], { girl: ' girl', boy: ' boy' });
  });

  test('a JSON config with camelCase keys; flags on the command line override it', async () => {
    const file = write(
      'eval.json',
      JSON.stringify({ model: STORIES, data: VALID, template: '{text}\nThe story is about a', verbalizer: { girl: ' girl', boy: ' boy' }, maxExamples: 30, json: true }),
    );
    const j = lastJson(await cli(['eval', '--config', file, '--max-examples', '10', '--template', '{text}\\nThe main character is a']));
    assert.equal(j['n'], 10);
    assert.equal(j['template'], '{text}\nThe main character is a');
  });

  test('an unknown key exits with 2 and names the file and key', async () => {
    const file = write('typo.yaml', `model: ${JSON.stringify(STORIES)}\nmax-exampels: 10\n`);
    const r = await cli(['eval', '--config', file, '--data', VALID]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${file}:2: key "max-exampels": unknown key`), r.stderr);
  });
});
