// Writes a two-task dataset for multitask prompt tuning: story_gender (task "gender") and the
// first SST-2 examples (task "sentiment"), interleaved, each record with a "task" field.
//   node examples/multitask/make_mixed.mjs ../shared/datasets runs/mixed
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [datasets = '../shared/datasets', out = 'runs/mixed'] = process.argv.slice(2);
const read = (task, split, n) =>
  readFileSync(join(datasets, task, `${split}.jsonl`), 'utf8').trim().split('\n').slice(0, n).map((l) => JSON.parse(l));
const mix = (a, b) => a.flatMap((r, i) => [r, b[i]]).filter(Boolean).map((r) => JSON.stringify(r)).join('\n') + '\n';
mkdirSync(out, { recursive: true });
for (const [split, n] of [['train', 1600], ['validation', 400]]) {
  const gender = read('story_gender', split, n).map((r) => ({ text: r.text, label: r.label, task: 'gender' }));
  const sentiment = read('sst2', split, n).map((r) => ({ text: r.text, label: r.label, task: 'sentiment' }));
  writeFileSync(join(out, `${split}.jsonl`), mix(gender, sentiment));
}
console.log(`wrote ${join(out, 'train.jsonl')} and ${join(out, 'validation.jsonl')}`);
