import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../src/data/errors.ts';
import type { DataRecord } from '../../src/data/readers.ts';
import { Template, parseTemplate } from '../../src/data/template.ts';

const rec = (fields: Record<string, unknown>, line = 7, file = '/data/train.jsonl'): DataRecord => ({ ...fields, __line: line, __file: file });

describe('parseTemplate', () => {
  test('text, field slots, escapes and soft slots', () => {
    assert.deepEqual(parseTemplate('Q: {question}\n{{literal}} {soft:4}A:'), [
      { kind: 'text', text: 'Q: ' },
      { kind: 'field', name: 'question' },
      { kind: 'text', text: '\n{literal} ' },
      { kind: 'soft', count: 4 },
      { kind: 'text', text: 'A:' },
    ]);
  });

  test('slot errors', () => {
    assert.throws(() => parseTemplate('{}'), (e: unknown) => e instanceof DataError && /empty slot/.test(e.message));
    assert.throws(() => parseTemplate('{ }'), /empty slot/);
    assert.throws(() => parseTemplate('x {text'), /never closed/);
    assert.throws(() => parseTemplate('x } y'), /unmatched "}"/);
    assert.throws(() => parseTemplate('{soft:0}'), /N >= 1/);
    assert.throws(() => parseTemplate('{soft:x}'), /must be \{soft:N\}/);
    assert.throws(() => parseTemplate('{a {b}'), /inside a slot/);
    assert.throws(() => new Template('{}', { source: 'tpl.txt' }), (e: unknown) => e instanceof DataError && e.file === 'tpl.txt');
  });
});

describe('Template', () => {
  test('fields, instruction and render', () => {
    const t = new Template('Premise: {premise}\nHypothesis: {hypothesis}\n{premise}?', { instruction: 'Does the premise entail the hypothesis?' });
    assert.deepEqual(t.fields, ['premise', 'hypothesis']);
    assert.equal(t.softTokens, 0);
    assert.equal(
      t.render(rec({ premise: 'P', hypothesis: 'H', label: 'entailment' })),
      'Does the premise entail the hypothesis?\nPremise: P\nHypothesis: H\nP?',
    );
    assert.equal(t.render(rec({ premise: 'P', hypothesis: 'H' }), { premise: 'cut' }), 'Does the premise entail the hypothesis?\nPremise: cut\nHypothesis: H\ncut?');
    assert.equal(new Template('{n} {b}').render({ n: 3, b: false }), '3 false');
  });

  test('missing field: DataError naming field, file and line', () => {
    const t = new Template('{text}\nThe story is about a');
    assert.throws(
      () => t.render(rec({ sentence: 'hello', label: 'girl' }, 42)),
      (e: unknown) =>
        e instanceof DataError &&
        e.field === 'text' &&
        e.line === 42 &&
        e.file === '/data/train.jsonl' &&
        e.message.startsWith('/data/train.jsonl:42: record has no field "text"') &&
        /fields are: sentence, label/.test(e.message),
    );
    assert.throws(() => t.render(rec({ text: null })), /field "text" .* is null/);
    assert.deepEqual(t.missingFields({ text: 'x' }), []);
    assert.deepEqual(new Template('{a}{b}').missingFields({ a: 'x', b: {} }), ['b']);
  });

  test('checkColumns fails early on a slot the data lacks', () => {
    const t = new Template('{question} {passage}');
    t.checkColumns(['question', 'passage', 'label']);
    assert.throws(() => t.checkColumns(['question', 'label'], 'train.csv'), (e: unknown) => e instanceof DataError && e.field === 'passage' && e.file === 'train.csv');
  });

  test('soft slots render as positions, and plain rendering refuses them', () => {
    const t = new Template('{soft:5}{text} It was{soft:2}', { instruction: 'Say.' });
    assert.equal(t.softTokens, 7);
    assert.deepEqual(t.fields, ['text']);
    assert.deepEqual(t.renderWithSlots({ text: 'x' }), { text: 'Say.\nx It was', slots: [{ offset: 5, count: 5 }, { offset: 13, count: 2 }] });
    assert.throws(() => t.render({ text: 'x' }), /needs a prompt-tuning or p-tuning adapter with 7 virtual tokens/);
  });
});
