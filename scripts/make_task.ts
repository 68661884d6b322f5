/**
 * Builds in-domain classification tasks for stories260K the way ../shared/datasets/story_gender
 * was built: stories sampled from the model itself, labelled by a word rule, balanced,
 * deduplicated, split into train/validation with a fixed seed.
 *
 *   node --import tsx scripts/make_task.ts [--model DIR] [--samples N] [--out examples/tasks]
 *
 * Sampling is deterministic: story i uses opener i mod 6 and sampler seed i (temperature 0.8,
 * up to 80 new tokens). The pool is cached in .tmp/story_pool.jsonl (same --samples, same pool).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/infer/engine.ts';
import { createRng, shuffleInPlace } from '../src/data/rng.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: '../shared/models/stories260K' },
    samples: { type: 'string', default: '6000' },
    out: { type: 'string', default: 'examples/tasks' },
    pool: { type: 'string', default: '.tmp/story_pool.jsonl' },
  },
});

const OPENERS = ['Once upon a time', 'One day,', 'There was a', 'Once there was', 'In a small town', 'Every day,'];
const N = Number(values.samples);
/** Examples per label at most (train + validation). */
const PER_LABEL = 500;

/** The sampled stories, first line only, opener included (cached chunk by chunk, so a stopped run continues). */
async function samplePool(): Promise<string[]> {
  const texts: string[] = existsSync(values.pool!)
    ? readFileSync(values.pool!, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { text: string }).text)
    : [];
  if (texts.length >= N) return texts.slice(0, N);
  mkdirSync(dirname(values.pool!), { recursive: true });
  const engine = await createEngine({ model: values.model!, maxBatchSize: 64 });
  const chunk = 256;
  for (let start = texts.length; start < N; start += chunk) {
    const reqs = Array.from({ length: Math.min(chunk, N - start) }, (_, k) => ({
      task: null,
      prompt: OPENERS[(start + k) % OPENERS.length]!,
      maxNewTokens: 80,
      temperature: 0.8,
      seed: start + k,
    }));
    const res = await engine.generate(reqs);
    const got = res.map((r, k) => (reqs[k]!.prompt + r.text).split('\n')[0]!.trim());
    appendFileSync(values.pool!, got.map((text, k) => JSON.stringify({ i: start + k, text }) + '\n').join(''));
    texts.push(...got);
    process.stderr.write(`\rsampled ${texts.length}/${N}`);
  }
  process.stderr.write('\n');
  await engine.close();
  return texts;
}

/** Whole-word occurrences of any of `words` (lower case). */
function count(text: string, words: readonly string[]): number {
  const re = new RegExp(`\\b(${words.join('|')})\\b`, 'gi');
  return text.match(re)?.length ?? 0;
}

interface Task {
  name: string;
  /** label → the words that vote for it */
  rule: Readonly<Record<string, readonly string[]>>;
  /** Votes the winning side needs (it also needs 3× the other side's). */
  minVotes: number;
  template: string;
  verbalizer: Readonly<Record<string, string>>;
  question: string;
}

export const TASKS: readonly Task[] = [
  {
    name: 'story_pet',
    rule: { dog: ['dog', 'dogs', 'puppy', 'puppies'], cat: ['cat', 'cats', 'kitten', 'kittens', 'kitty'] },
    minVotes: 1,
    template: '{text}\nThe story has a',
    verbalizer: { dog: ' dog', cat: ' cat' },
    question: 'Is there a dog or a cat in the story?',
  },
  {
    name: 'story_friend',
    rule: { mom: ['mom', 'mommy', 'mother', 'mum', 'mama'], friend: ['friend', 'friends'] },
    minVotes: 1,
    template: '{text}\nThe story is about a child and their',
    verbalizer: { mom: ' mom', friend: ' friend' },
    question: 'Is the story about a mom or a friend?',
  },
];

/** The label when one side has at least minVotes votes and at least 3× the other's; null when ambiguous. */
function label(text: string, { rule, minVotes }: Task): string | null {
  const [a, b] = Object.keys(rule) as [string, string];
  const ca = count(text, rule[a]!);
  const cb = count(text, rule[b]!);
  if (ca >= minVotes && ca >= 3 * cb) return a;
  if (cb >= minVotes && cb >= 3 * ca) return b;
  return null;
}

const shuffle = <T>(xs: T[], seed: number): T[] => shuffleInPlace(xs, createRng(seed));

const pool = await samplePool();
const unique = [...new Set(pool.filter((t) => t.length >= 80))];
console.log(`pool ${pool.length}, unique with >= 80 characters ${unique.length}`);
for (const task of TASKS) {
  const byLabel = new Map<string, string[]>(Object.keys(task.rule).map((l) => [l, []]));
  for (const text of unique) {
    const l = label(text, task);
    if (l !== null) byLabel.get(l)!.push(text);
  }
  const per = Math.min(PER_LABEL, ...[...byLabel.values()].map((v) => v.length));
  const counts = [...byLabel].map(([l, v]) => `${l} ${v.length}`).join(', ');
  const rows = shuffle(
    [...byLabel].flatMap(([l, v]) => shuffle(v.slice(), 1).slice(0, per).map((text) => ({ text, label: l }))),
    2,
  );
  const nVal = Math.round(rows.length / 5);
  const dir = join(values.out!, task.name);
  mkdirSync(dir, { recursive: true });
  const jsonl = (xs: typeof rows): string => xs.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(dir, 'validation.jsonl'), jsonl(rows.slice(0, nVal)));
  writeFileSync(join(dir, 'train.jsonl'), jsonl(rows.slice(nVal)));
  writeFileSync(join(dir, 'task.json'), JSON.stringify({ template: task.template, verbalizer: task.verbalizer, init_text: task.question, rule: task.rule, min_votes: task.minVotes }, null, 2) + '\n');
  console.log(`${task.name}: labelled ${counts}; kept ${per} per label → train ${rows.length - nVal}, validation ${nVal}`);
}
