/**
 * Hardening (issue 16): mutated data files (JSONL, CSV, Parquet) through the CLI's readers, and
 * mutated safetensors/adapter bytes through the loaders. Every outcome is a valid result or a
 * typed error (a SoftpromptError, whose message the CLI prints as one line), never another
 * exception and never a hang. Seeded and bounded (about 10 s in all).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parquetWriteFile } from 'hyparquet-writer';
import { loadAdapter } from '../../src/adapter/load.ts';
import { collect, readRecords } from '../../src/data/readers.ts';
import { SoftpromptError } from '../../src/errors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { tensor } from '../../src/tensor.ts';
import { peftPromptTuningConfig, values, writePeftAdapter } from '../adapter/helpers.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { mutateBytes, mutateText, Rng } from './rng.ts';

const SEED = Number(process.env['SOFTPROMPT_FUZZ_SEED'] ?? 16);
const CASES = 400;
const tmp = mkdtempSync(join(tmpdir(), 'sp-fuzzf-'));
let model: ModelDir;
let parquet: Uint8Array;
let adapterDir: string;
before(async () => {
  model = loadModelDir(STORIES);
  const p = join(tmp, 'seed.parquet');
  await parquetWriteFile({
    filename: p,
    columnData: [
      { name: 'text', data: Array.from({ length: 300 }, (_, i) => `story ${i} about the park`), type: 'STRING' },
      { name: 'label', data: Array.from({ length: 300 }, (_, i) => (i % 2 ? 'girl' : 'boy')), type: 'STRING' },
      { name: 'idx', data: Array.from({ length: 300 }, (_, i) => BigInt(i)), type: 'INT64' },
    ],
    rowGroupSize: 100,
  });
  parquet = readFileSync(p);
  adapterDir = join(tmp, 'adapter');
  mkdirSync(adapterDir);
  writePeftAdapter(adapterDir, peftPromptTuningConfig(4), { prompt_embeddings: tensor('float32', [4, 64], values(256, 3)) });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A few bytes of the Parquet pages flipped or replaced (the length is kept, so offsets still point at pages). */
function mutatePages(r: Rng, pages: Uint8Array): Uint8Array {
  const b = Uint8Array.from(pages);
  for (let n = 1 + r.int(4); n > 0; n--) {
    const i = 4 + r.int(b.length - 4); // past the "PAR1" magic
    b[i] = r.chance(0.5) ? r.int(256) : b[i]! ^ (1 << r.int(8));
  }
  return b;
}

/** Resolves with the outcome; a hang (past `ms`) or an untyped exception fails the case. */
async function outcome(where: string, run: () => Promise<unknown> | unknown, ms = 5000): Promise<'ok' | 'typed'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${where}: still running after ${ms} ms`)), ms)));
  try {
    await Promise.race([Promise.resolve().then(run), hang]);
    return 'ok';
  } catch (e) {
    if (e instanceof SoftpromptError) {
      assert.ok(!e.message.includes('\n    at '), `${where}: ${e.message}`);
      return 'typed';
    }
    assert.fail(`${where}: untyped ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

test('mutated JSONL, CSV and Parquet files: records or a DataError', async () => {
  const r = new Rng(SEED);
  const jsonl = readFileSync(join(SHARED, 'datasets', 'story_gender', 'validation.jsonl'), 'utf8').split('\n').slice(0, 30).join('\n');
  const csv = 'text,label\n' + jsonl.split('\n').map((l) => {
    const o = JSON.parse(l) as { text: string; label: string };
    return `"${o.text.replace(/"/g, '""')}",${o.label}`;
  }).join('\n');
  const seen = { ok: 0, typed: 0 };
  for (let i = 0; i < CASES; i++) {
    const kind = r.pick(['jsonl', 'csv', 'tsv', 'parquet'] as const);
    const path = join(tmp, `case${i}.${kind}`);
    // Parquet: the footer (schema, row groups, offsets) or the pages (headers, levels, snappy
    // bytes) are mutated. Damaged page bytes kept hyparquet's RLE decoder busy for minutes before
    // src/data/parquet_check.ts (here: seed 16, case 187); such a hang blocks this test for good.
    if (kind === 'parquet') {
      const cut = parquet.length - 400;
      writeFileSync(path, r.chance(0.5)
        ? Buffer.concat([parquet.subarray(0, cut), mutateBytes(r, parquet.subarray(cut))])
        : Buffer.concat([mutatePages(r, parquet.subarray(0, cut)), parquet.subarray(cut)]));
    }
    else writeFileSync(path, mutateText(r, kind === 'jsonl' ? jsonl : kind === 'csv' ? csv : csv.replace(/,/g, '\t')));
    seen[await outcome(`seed ${SEED} case ${i} (${kind})`, () => collect(readRecords(path)))]++;
  }
  assert.ok(seen.ok > 0 && seen.typed > 0, JSON.stringify(seen));
});

test('mutated safetensors and adapter files: loaded or a typed error', async () => {
  const r = new Rng(SEED + 1);
  const weights = readFileSync(join(adapterDir, 'adapter_model.safetensors'));
  const config = readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8');
  const seen = { ok: 0, typed: 0 };
  for (let i = 0; i < CASES; i++) {
    const dir = join(tmp, `adapter${i}`);
    mkdirSync(dir);
    copyFileSync(join(adapterDir, 'adapter_config.json'), join(dir, 'adapter_config.json'));
    copyFileSync(join(adapterDir, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    if (r.chance(0.7)) writeFileSync(join(dir, 'adapter_model.safetensors'), mutateBytes(r, weights));
    else writeFileSync(join(dir, 'adapter_config.json'), mutateText(r, config));
    const where = `seed ${SEED} case ${i}`;
    seen[await outcome(`${where} safetensors`, () => readSafetensors(join(dir, 'adapter_model.safetensors')))]++;
    seen[await outcome(`${where} adapter`, () => loadAdapter(dir, model, { onWarning: () => {} }))]++;
  }
  assert.ok(seen.ok > 0 && seen.typed > 0, JSON.stringify(seen));
});
