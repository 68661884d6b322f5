/** `softprompt rank-templates`: file formats, the shipped story_gender examples, and a ranked run end to end. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ConfigFileError } from '../../src/cli/config.ts';
import { readTemplatesFile, readVerbalizersFile } from '../../src/cli/rank_templates.ts';
import { Template } from '../../src/data/template.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { cli } from '../helpers/cli.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');

let tmp: string;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-cli-rank-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(tmp, name);
  writeFileSync(file, text);
  return file;
}

describe('templates and verbalizers files', () => {
  test('the shipped story_gender templates parse, 5 to 8 of them, the known zero-shot one among them', () => {
    const templates = readTemplatesFile(join(ROOT, 'examples', 'story_gender', 'templates.yaml'));
    assert.ok(templates.length >= 5 && templates.length <= 8, `${templates.length} templates`);
    assert.ok(templates.some((t) => t.template === '{text}\nThe story is about a'));
    for (const t of templates) assert.deepEqual(new Template(t.template).fields, ['text'], t.name);
    assert.equal(new Set(templates.map((t) => t.name)).size, templates.length);
    const verbalizers = readVerbalizersFile(join(ROOT, 'examples', 'story_gender', 'verbalizers.json'));
    assert.ok(verbalizers.length >= 2);
    for (const v of verbalizers) assert.deepEqual([...v.verbalizer.labels].sort(), ['boy', 'girl'], v.name);
  });

  test('a text file: one template per line, \\n escapes, # comments and blank lines skipped', () => {
    const file = write('t.txt', '# story_gender\n{text}\\nThe story is about a\n\n{text}\\nThe main character is a\n');
    const t = readTemplatesFile(file);
    assert.deepEqual(
      t.map((x) => [x.name, x.template]),
      [
        ['#1', '{text}\nThe story is about a'],
        ['#2', '{text}\nThe main character is a'],
      ],
    );
    assert.equal(t[1]!.origin, `${file}:4`);
  });

  test('JSON and YAML lists of strings or {name, template, instruction}', () => {
    const json = readTemplatesFile(write('t.json', JSON.stringify(['{text} A', { name: 'b', template: '{text} B', instruction: 'Read.' }])));
    assert.deepEqual(
      json.map((x) => [x.name, x.template, x.instruction]),
      [
        ['#1', '{text} A', undefined],
        ['b', '{text} B', 'Read.'],
      ],
    );
    const bad = write('bad.yaml', '- "{text} A"\n- name: x\n  templat: "{text}"\n');
    assert.throws(
      () => readTemplatesFile(bad),
      (e: unknown) => e instanceof ConfigFileError && e.message.startsWith(`${bad}:2:`) && /template 2: unknown key "templat"/.test(e.message),
    );
    assert.throws(() => readTemplatesFile(write('none.yaml', 'a: 1\n')), /must be a list of templates/);
    assert.throws(() => readTemplatesFile(write('blank.txt', '\n# nothing\n')), /has no templates/);
  });

  test('verbalizers: plain objects, named ones, or a single object', () => {
    const v = readVerbalizersFile(write('v.yaml', '- {girl: " girl", boy: " boy"}\n- name: she/he\n  verbalizer: {girl: " she", boy: " he"}\n'));
    assert.deepEqual(
      v.map((x) => x.name),
      ['girl=" girl", boy=" boy"', 'she/he'],
    );
    assert.equal(readVerbalizersFile(write('one.json', '{"girl": " girl", "boy": " boy"}')).length, 1);
    assert.throws(() => readVerbalizersFile(write('badv.json', '[["girl"]]')), /verbalizer 1: must be an object/);
  });
});



interface Ranked {
  rank: number;
  template_name: string;
  template: string;
  accuracy: number;
  macro_f1: number;
  n: number;
}

describe('softprompt rank-templates', { concurrency: true }, () => {
  let three: string | undefined;
  // Written once: the tests run concurrently and must not read a file while it is rewritten.
  const templates = (): string =>
    (three ??= write(
      'three.yaml',
      [
        '- name: about-a',
        '  template: "{text}\\nThe story is about a"',
        '- name: main-character',
        '  template: "{text}\\nThe main character is a"',
        '- name: the-end',
        '  template: "{text} The end.\\nThis was a story about a"',
        '',
      ].join('\n'),
    ));
  const args = (): string[] => [
    'rank-templates',
    '--model',
    STORIES,
    '--data',
    VALID,
    '--templates',
    templates(),
    '--verbalizer',
    '{"girl": " little girl", "boy": " little boy"}',
    '--max-examples',
    '60',
  ];

  test('--json: results best first, spread = best - worst', async () => {
    const r = await cli([...args(), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { results: Ranked[]; best: Ranked; worst: Ranked; spread: number; n: number };
    assert.equal(j.n, 60);
    assert.equal(j.results.length, 3);
    assert.deepEqual([...j.results.map((x) => x.template_name)].sort(), ['about-a', 'main-character', 'the-end']);
    for (let i = 1; i < j.results.length; i++) {
      const [a, b] = [j.results[i - 1]!, j.results[i]!];
      assert.ok(a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.macro_f1 >= b.macro_f1), 'sorted best first');
    }
    assert.deepEqual(
      j.results.map((x) => x.rank),
      [1, 2, 3],
    );
    assert.deepEqual(j.best, j.results[0]);
    assert.deepEqual(j.worst, j.results[2]);
    assert.equal(j.spread, j.best.accuracy - j.worst.accuracy);
    assert.ok(j.results.every((x) => x.n === 60));
  });

  test('the table lists every template, best first, and the spread', async () => {
    const r = await cli(args());
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d\s/.test(l));
    assert.equal(rows.length, 3, r.stdout);
    const acc = rows.map((l) => Number(/(\d+\.\d)%\s+\d+\.\d%$/.exec(l)![1]));
    assert.deepEqual(acc, [...acc].sort((a, b) => b - a));
    assert.match(r.stdout, /spread \(best - worst\): \d+\.\d points of accuracy/);
  });

  test('a missing --templates exits with 2', async () => {
    const r = await cli(['rank-templates', '--model', STORIES, '--data', VALID, '--verbalizer', '{"girl": " girl", "boy": " boy"}']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /missing --templates/);
  });
});
