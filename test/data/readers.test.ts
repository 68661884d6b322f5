import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import { DataError } from '../../src/data/errors.ts';
import { collect, parseDelimited, readAllRecords, readRecords, requireNonEmpty, take } from '../../src/data/readers.ts';
import { createRng, reservoirSample, shuffled } from '../../src/data/rng.ts';
import { SoftpromptError } from '../../src/errors.ts';
import { SHARED } from '../helpers/paths.ts';

const DATASETS = join(SHARED, 'datasets');
let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-data-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function file(name: string, text: string | Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** Resolves to the error a promise rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<DataError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.ok(e instanceof SoftpromptError);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('JSONL', () => {
  test('story_gender train: 1,600 records with line numbers and file', async () => {
    const path = join(DATASETS, 'story_gender', 'train.jsonl');
    const records = await readAllRecords(path);
    assert.equal(records.length, 1600);
    assert.equal(records[0]!.__line, 1);
    assert.equal(records[1599]!.__line, 1600);
    assert.equal(records[0]!.__file, path);
    assert.equal(records[0]!['label'], 'boy');
    assert.match(String(records[0]!['text']), /^Once upon a time, there was a little boy named Timmy\./);
    const counts = { girl: 0, boy: 0 };
    for (const r of records) counts[r['label'] as 'girl' | 'boy']++;
    assert.equal(counts.girl + counts.boy, 1600);
  });

  test('sst2 train: streams all 67,349 lines without keeping them', async () => {
    const path = join(DATASETS, 'sst2', 'train.jsonl');
    let n = 0;
    let positive = 0;
    let lastLine = 0;
    for await (const r of readRecords(path)) {
      n++;
      if (r['label'] === 'positive') positive++;
      lastLine = r.__line;
    }
    assert.equal(n, 67349);
    assert.equal(positive, 37569);
    assert.equal(lastLine, 67349);
  });

  test('take() stops reading early', async () => {
    const first = await take(readRecords(join(DATASETS, 'sst2', 'train.jsonl')), 3);
    assert.deepEqual(
      first.map((r) => r.__line),
      [1, 2, 3],
    );
  });

  test('malformed line: DataError with file, line number and the parse problem', async () => {
    const path = file('bad.jsonl', '{"text": "ok", "label": "a"}\n\n{"text": "broken", "label": \n{"text": "x"}\n');
    const err = await rejection(collect(readRecords(path)));
    assert.equal(err.file, path);
    assert.equal(err.line, 3);
    assert.ok(err.message.startsWith(`${path}:3: invalid JSON:`), err.message);
  });

  test('a line that is not an object', async () => {
    const path = file('array.jsonl', '{"a": 1}\n[1, 2]\n');
    const err = await rejection(collect(readRecords(path)));
    assert.equal(err.line, 2);
    assert.match(err.message, /expected a JSON object per line, got an array/);
    const err2 = await rejection(collect(readRecords(file('str.jsonl', '"hello"\n'))));
    assert.match(err2.message, /got a string/);
  });

  test('blank lines are skipped but counted; CRLF and BOM are handled', async () => {
    const path = file('crlf.jsonl', '\uFEFF{"a": 1}\r\n\r\n{"a": 2}\r\n');
    const records = await collect(readRecords(path));
    assert.deepEqual(
      records.map((r) => [r['a'], r.__line]),
      [
        [1, 1],
        [2, 3],
      ],
    );
  });

  test('missing file names the path', async () => {
    const path = join(tmp, 'nope', 'train.jsonl');
    const err = await rejection(collect(readRecords(path)));
    assert.equal(err.file, path);
    assert.match(err.message, /no such file/);
  });

  test('unknown extension', async () => {
    const err = await rejection(collect(readRecords(file('data.xml', '<a/>'))));
    assert.match(err.message, /unknown dataset extension "\.xml"/);
  });

  test('empty split: requireNonEmpty names the file', async () => {
    const path = file('empty.jsonl', '\n\n');
    const records = await collect(readRecords(path));
    assert.equal(records.length, 0);
    assert.throws(() => requireNonEmpty(records, path), (e: unknown) => e instanceof DataError && e.file === path && /empty split/.test(e.message));
    const err = await rejection(readAllRecords(path));
    assert.ok(err.message.startsWith(path));
  });
});

describe('CSV/TSV', () => {
  test('quoted fields with commas, newlines and doubled quotes; line numbers', async () => {
    const path = file(
      'data.csv',
      'text,label\n' +
        'plain text,pos\n' +
        '"with, comma",neg\n' +
        '"two\nlines",pos\n' +
        '"say ""hi""",neg\n' +
        '\n' +
        ',empty\r\n' +
        '"",quoted empty',
    );
    const records = await collect(readRecords(path));
    assert.deepEqual(
      records.map((r) => [r['text'], r['label'], r.__line]),
      [
        ['plain text', 'pos', 2],
        ['with, comma', 'neg', 3],
        ['two\nlines', 'pos', 4],
        ['say "hi"', 'neg', 6],
        ['', 'empty', 8],
        ['', 'quoted empty', 9],
      ],
    );
  });

  test('TSV', async () => {
    const records = await collect(readRecords(file('data.tsv', 'sentence\tlabel\nit , is\tpositive\n"a\tb"\tnegative\n')));
    assert.deepEqual(
      records.map((r) => [r['sentence'], r['label']]),
      [
        ['it , is', 'positive'],
        ['a\tb', 'negative'],
      ],
    );
  });

  test('parsing is independent of chunk boundaries', async () => {
    const text = 'a,b\r\n"x,""y""\r\nz",2\r\nq,"r"\r\n';
    async function* chars(): AsyncGenerator<string> {
      for (const c of text) yield c;
    }
    const whole = await collect(parseDelimited([text], ','));
    const split = await collect(parseDelimited(chars(), ','));
    assert.deepEqual(split, whole);
    assert.deepEqual(whole, [
      { fields: ['a', 'b'], line: 1 },
      { fields: ['x,"y"\r\nz', '2'], line: 2 },
      { fields: ['q', 'r'], line: 4 },
    ]);
  });

  test('wrong field count, stray quote, unterminated quote', async () => {
    const e1 = await rejection(collect(readRecords(file('count.csv', 'a,b\n1,2\n1,2,3\n'))));
    assert.equal(e1.line, 3);
    assert.match(e1.message, /has 3 fields but the header has 2/);
    const e2 = await rejection(collect(readRecords(file('stray.csv', 'a,b\n1,x"y\n'))));
    assert.equal(e2.line, 2);
    const e3 = await rejection(collect(readRecords(file('open.csv', 'a,b\n1,"never closed\n\n'))));
    assert.equal(e3.line, 2);
    assert.match(e3.message, /unterminated/);
  });
});

describe('Parquet', () => {
  test('reads every row group, with row numbers', async () => {
    const path = join(tmp, 'data.parquet');
    const n = 2500;
    const texts = Array.from({ length: n }, (_, i) => `text number ${i}`);
    const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'a' : 'b'));
    const ids = Array.from({ length: n }, (_, i) => BigInt(i));
    await parquetWriteFile({
      filename: path,
      columnData: [
        { name: 'text', data: texts, type: 'STRING' },
        { name: 'label', data: labels, type: 'STRING' },
        { name: 'idx', data: ids, type: 'INT64' },
      ],
      rowGroupSize: 1000,
    });
    assert.equal((await parquetMetadataAsync(await asyncBufferFromFile(path))).row_groups.length, 3);
    const records = await collect(readRecords(path));
    assert.equal(records.length, n);
    assert.deepEqual(
      { ...records[1234] },
      { text: 'text number 1234', label: 'b', idx: 1234, __line: 1235, __file: path },
    );
    assert.equal(records[2499]!.__line, 2500);
    assert.deepEqual((await take(readRecords(path), 2)).map((r) => r['text']), ['text number 0', 'text number 1']);
  });

  test('nulls, booleans, dictionaries and many pages pass the page check (no false alarm)', async () => {
    // parquet_check.ts walks every page's runs before hyparquet decodes them: valid files of every
    // shape hyparquet-writer makes must read back as written.
    const path = join(tmp, 'shapes.parquet');
    const n = 3000;
    const text = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `story ${i % 40}`));
    const flag = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : i % 3 === 0));
    const num = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? null : i));
    await parquetWriteFile({
      filename: path,
      pageSize: 1500,
      rowGroupSize: 1100,
      columnData: [
        { name: 'text', data: text, type: 'STRING' },
        { name: 'flag', data: flag, type: 'BOOLEAN' },
        { name: 'num', data: num, type: 'INT32' },
        { name: 'x', data: Array.from({ length: n }, (_, i) => i / 4), type: 'DOUBLE' },
      ],
    });
    const records = await collect(readRecords(path));
    assert.equal(records.length, n);
    for (const i of [0, 7, 11, 1099, 1100, 2999]) {
      assert.deepEqual({ ...records[i] }, { text: text[i], flag: flag[i], num: num[i], x: i / 4, __line: i + 1, __file: path });
    }
  });

  test('a damaged page is one DataError naming the row group, the column and the byte', async () => {
    const path = join(tmp, 'seed-pages.parquet');
    await parquetWriteFile({ filename: path, columnData: [{ name: 'text', data: Array.from({ length: 50 }, (_, i) => `story ${i}`), type: 'STRING' }] });
    const bytes = readFileSync(path);
    bytes[4] = 0x99; // the first page header's first byte
    const err = await rejection(collect(readRecords(file('damaged.parquet', bytes))));
    assert.match(err.message, /damaged\.parquet: row group 1 of 1 \(rows 1\.\.50\), column "text": the page at byte 4\b.*the file is damaged/);
    assert.ok(!err.message.includes('\n'));
  });

  test('a file that is not Parquet', async () => {
    const err = await rejection(collect(readRecords(file('fake.parquet', 'not parquet at all'))));
    assert.match(err.message, /not a readable Parquet file/);
  });
});

describe('seeded sampling', () => {
  test('shuffle and reservoir are reproducible and uniform-ish', async () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(shuffled(items, createRng(7)), shuffled(items, createRng(7)));
    assert.notDeepEqual(shuffled(items, createRng(7)), shuffled(items, createRng(8)));
    assert.deepEqual([...shuffled(items, createRng(7))].sort((a, b) => a - b), items);
    const s1 = await reservoirSample(items, 10, createRng(1));
    assert.deepEqual(s1, await reservoirSample(items, 10, createRng(1)));
    assert.equal(new Set(s1).size, 10);
    assert.deepEqual(s1, [...s1].sort((a, b) => a - b));
    const sample = await reservoirSample(readRecords(join(DATASETS, 'story_gender', 'validation.jsonl')), 5, createRng(3));
    assert.equal(sample.length, 5);
    // Every position is reachable: over many seeds the mean picked index is near the middle.
    let sum = 0;
    for (let seed = 0; seed < 200; seed++) for (const x of await reservoirSample(items, 5, createRng(seed))) sum += x;
    assert.ok(Math.abs(sum / 1000 - 49.5) < 5, `mean ${sum / 1000}`);
  });
});
