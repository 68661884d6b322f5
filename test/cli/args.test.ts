/** Flag parsing helpers: shot lists, CLI escapes, @file text, inline or file verbalizers. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { intArg, parseShots, textArg, unescapeCli, verbalizerArg } from '../../src/cli/args.ts';
import { formatTable, percent } from '../../src/inspect/table.ts';
import { SoftpromptError } from '../../src/errors.ts';

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-cli-args-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('parseShots: one count, a comma list, or a JSON list', () => {
  assert.deepEqual(parseShots('4'), [4]);
  assert.deepEqual(parseShots('0, 1,4'), [0, 1, 4]);
  assert.deepEqual(parseShots('[0, 2]'), [0, 2]);
  assert.deepEqual(parseShots('1,1,2'), [1, 2]);
  for (const bad of ['', 'x', '-1', '1.5', '1,,2', '[]', '{"a": 1}']) assert.throws(() => parseShots(bad), InvalidArgumentError, bad);
});

test('intArg checks the minimum', () => {
  assert.equal(intArg(1)('12'), 12);
  assert.throws(() => intArg(1)('0'), InvalidArgumentError);
  assert.throws(() => intArg(0)('2x'), InvalidArgumentError);
});

test('unescapeCli: \\n, \\t and \\\\; other backslashes stay', () => {
  assert.equal(unescapeCli('{text}\\nThe story'), '{text}\nThe story');
  assert.equal(unescapeCli('a\\tb\\\\nc\\d'), 'a\tb\\nc\\d');
});

test('textArg: escapes only from the command line; @file reads a file; @@ is a literal @', () => {
  assert.equal(textArg('{text}\\nIt is a', '--template', true).text, '{text}\nIt is a');
  assert.equal(textArg('{text}\\nIt is a', '--template', false).text, '{text}\\nIt is a');
  const file = join(tmp, 'template.txt');
  writeFileSync(file, '{text}\nThe story is about a\n');
  assert.deepEqual(textArg(`@${file}`, '--template', true), { text: '{text}\nThe story is about a', origin: file });
  assert.equal(textArg('@@home {text}', '--template', true).text, '@home {text}');
  assert.throws(() => textArg(`@${join(tmp, 'nope.txt')}`, '--template', true), /--template @.*no such file/);
});

test('verbalizerArg: inline JSON, a JSON file, or an error naming both readings', () => {
  assert.deepEqual(verbalizerArg('{"girl": " girl", "boy": " boy"}').labels, ['girl', 'boy']);
  const file = join(tmp, 'v.json');
  writeFileSync(file, '{"pos": " great", "neg": " terrible"}');
  const v = verbalizerArg(file);
  assert.deepEqual(v.labels, ['pos', 'neg']);
  assert.equal(v.source, file);
  assert.throws(
    () => verbalizerArg('girl=girl'),
    (e: unknown) => e instanceof SoftpromptError && /is not inline JSON/.test(e.message) && /no file has that path/.test(e.message),
  );
  assert.throws(() => verbalizerArg('["girl"]'), /is JSON but not an object/);
});

test('formatTable pads columns; percent', () => {
  assert.deepEqual(formatTable(['a', 'bb'], [['xyz', '1']], ['left', 'right']), ['a    bb', 'xyz   1']);
  assert.equal(percent(0.45), '45.0%');
});
