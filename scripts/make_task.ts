/**
 * Builds in-domain classification tasks for stories260K the way ../shared/datasets/story_gender
 * was built: stories sampled from the model itself, labelled by a word rule, balanced,
 * deduplicated, split into train/validation with a fixed seed.
 *
 *   node --import tsx scripts/make_task.ts [--model DIR] [--samples N] [--out examples/tasks] [--only a,b]
 *
 * Sampling is deterministic: story i uses opener i mod 6 and sampler seed i (temperature 0.8,
 * up to 80 new tokens). The pool is cached in .tmp/story_pool.jsonl and extended on demand; a task
 * draws from its first `samples` stories, so a bigger pool does not change an older task.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/infer/engine.ts';
import { createRng, shuffleInPlace } from '../src/data/rng.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: '../shared/models/stories260K' },
    samples: { type: 'string', default: '24000' },
    out: { type: 'string', default: 'examples/tasks' },
    only: { type: 'string' },
    pool: { type: 'string', default: '.tmp/story_pool.jsonl' },
  },
});

const OPENERS = ['Once upon a time', 'One day,', 'There was a', 'Once there was', 'In a small town', 'Every day,'];
const N = Number(values.samples);
/** Examples per label at most (train + validation), unless a task says otherwise. */
const PER_LABEL = 500;
/** Pool prefix a task draws from, unless it says otherwise (the first tasks were built from 6,000 stories). */
const SAMPLES = 6000;

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

/** A word or a phrase of words, matched whole. */
const isWord = (w: string): boolean => /^\w+( \w+)*$/.test(w);

/** Whole-word occurrences of any of `words` (lower case); a non-word character (the quote mark) counts wherever it is. */
function count(text: string, words: readonly string[]): number {
  if (words.length === 0) return 0;
  const re = words.every(isWord)
    ? new RegExp(`\\b(${words.join('|')})\\b`, 'gi')
    : new RegExp(words.map((w) => (isWord(w) ? `\\b${w}\\b` : w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('|'), 'gi');
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
  /** Stories drawn from: the first `samples` of the pool (default 6,000). */
  samples?: number;
  /** Examples per label at most (default 500). */
  perLabel?: number;
  /** A story containing any of these words is dropped, so the answer is never spelled out in it. */
  exclude?: readonly string[];
  /**
   * For a rule whose second label has no words (it means "none of the first label's words"): a story
   * with none of the first label's words but some of these is ambiguous and dropped.
   */
  absentUnless?: readonly string[];
  /** Screened and dropped (examples/tasks/README.md says why): built only when --only names it. */
  dropped?: true;
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
  {
    // story_pet's rule, answered by the animal's sound: stories260K's stories (nearly) never say woof or meow.
    name: 'story_sound',
    dropped: true,
    rule: { dog: ['dog', 'dogs', 'puppy', 'puppies'], cat: ['cat', 'cats', 'kitten', 'kittens', 'kitty'] },
    minVotes: 1,
    template: '{text}\nThe pet says',
    verbalizer: { dog: ' woof', cat: ' meow' },
    question: 'Does the pet say woof or meow?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['woof', 'meow'],
  },
  {
    // Sad or happy words, answered by a judgement the story does not use.
    name: 'story_mood',
    dropped: true,
    rule: {
      bad: ['sad', 'cried', 'cry', 'crying', 'scared', 'angry', 'upset', 'tears', 'hurt', 'afraid'],
      good: ['happy', 'smiled', 'smile', 'laughed', 'laugh', 'fun', 'excited', 'joy', 'glad'],
    },
    minVotes: 1,
    template: '{text}\nThe day was',
    verbalizer: { bad: ' bad', good: ' good' },
    question: 'Was it a good day or a bad day?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['bad', 'good'],
  },
  {
    // Crying or laughing, answered by the feeling those words imply; stories that name it are dropped.
    name: 'story_feel',
    dropped: true,
    rule: {
      sad: ['cried', 'cry', 'crying', 'scared', 'angry', 'upset', 'tears', 'hurt', 'afraid', 'frown', 'frowned'],
      happy: ['smiled', 'smile', 'laughed', 'laugh', 'fun', 'excited', 'joy', 'glad', 'giggled', 'cheered'],
    },
    minVotes: 1,
    template: '{text}\nIn the end, the child was',
    verbalizer: { sad: ' sad', happy: ' happy' },
    question: 'Was the child sad or happy?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['sad', 'happy'],
  },
  {
    // Plural or singular pronouns (the model tracks them for agreement), answered by a count the story does not give.
    name: 'story_count',
    rule: {
      two: ['they', 'them', 'their', 'themselves'],
      one: ['he', 'she', 'his', 'her', 'him', 'hers', 'himself', 'herself'],
    },
    minVotes: 1,
    template: '{text}\nThe story is about',
    verbalizer: { two: ' two', one: ' a' },
    question: 'Is the story about two children or one?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['two'],
  },
  {
    // Girls' or boys' names (pronouns ignored), answered by a family word the story does not use.
    name: 'story_sibling',
    rule: {
      sister: ['lily', 'sue', 'amy', 'mia', 'lucy', 'anna', 'sara', 'sarah', 'jane', 'emma', 'kate', 'ellie', 'sally', 'mary', 'jenny', 'lisa', 'lola', 'zoe', 'molly', 'daisy', 'rose', 'susie', 'anne', 'ella', 'lila', 'sophie', 'jill', 'bella'],
      brother: ['tim', 'tom', 'ben', 'max', 'jack', 'sam', 'timmy', 'bob', 'joe', 'jake', 'billy', 'leo', 'john', 'mike', 'bobby', 'tommy', 'johnny', 'bill', 'jim', 'jimmy', 'mark', 'fred', 'peter'],
    },
    minVotes: 1,
    template: '{text}\nThe child in the story is a little',
    verbalizer: { sister: ' sister', brother: ' brother' },
    question: 'Is the child a little sister or a little brother?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['sister', 'brother'],
  },
  {
    // Foods or toys named in the story, answered by what they are for.
    name: 'story_food',
    dropped: true,
    rule: {
      eat: ['cake', 'cakes', 'cookie', 'cookies', 'apple', 'apples', 'candy', 'pie', 'soup', 'bread', 'sandwich', 'banana', 'carrot', 'carrots', 'pizza', 'lunch', 'dinner', 'breakfast', 'snack', 'fruit', 'juice', 'milk'],
      play: ['ball', 'balls', 'doll', 'dolls', 'teddy', 'blocks', 'kite', 'truck', 'puzzle', 'robot'],
    },
    minVotes: 1,
    template: '{text}\nThe child wanted to',
    verbalizer: { eat: ' eat', play: ' play' },
    question: 'Did the child want to eat or to play?',
    samples: 24000,
    perLabel: 1000,
  },
  {
    // A quote mark (someone speaks) or none and no speech verb; the model tracks quotes to close them.
    name: 'story_talk',
    dropped: true,
    rule: { talk: ['"'], quiet: [] },
    absentUnless: ['said', 'say', 'says', 'saying', 'asked', 'ask', 'asks', 'told', 'tell', 'tells', 'talk', 'talks', 'talked', 'shouted', 'yelled', 'replied', 'whispered', 'called', 'cried', 'exclaimed', 'answered', 'screamed', 'sang', 'sing'],
    minVotes: 1,
    template: '{text}\nIn the story, everyone was',
    verbalizer: { talk: ' talking', quiet: ' quiet' },
    question: 'Does anyone talk in the story?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['talking', 'quiet'],
  },
  {
    // The character introduced with "named" is an animal or a child (a story naming both is ambiguous).
    name: 'story_animal',
    rule: {
      animal: ['dog', 'cat', 'bird', 'fish', 'bunny', 'rabbit', 'bear', 'frog', 'duck', 'mouse', 'squirrel', 'puppy', 'kitten', 'kitty', 'monkey', 'lion', 'elephant', 'fox', 'owl', 'cow', 'pig', 'horse', 'bug', 'ant', 'bee', 'turtle', 'crab', 'whale', 'birdie', 'mole', 'deer', 'snake', 'tiger', 'giraffe', 'wolf', 'sheep', 'chicken', 'goat', 'lamb', 'pony', 'dinosaur', 'ladybug', 'butterfly', 'spider', 'worm', 'snail', 'parrot', 'hen', 'penguin', 'zebra', 'kangaroo'].map((w) => `${w} named`),
      child: ['girl named', 'boy named', 'kid named', 'child named'],
    },
    minVotes: 1,
    template: '{text}\nThe story is about a little',
    verbalizer: { animal: ' animal', child: ' child' },
    question: 'Is the story about an animal or a child?',
    samples: 24000,
    perLabel: 1000,
    exclude: ['animal', 'child'],
  },
];

/** The label when one side has at least minVotes votes and at least 3× the other's; null when ambiguous. */
function label(text: string, { rule, minVotes, absentUnless }: Task): string | null {
  const [a, b] = Object.keys(rule) as [string, string];
  const ca = count(text, rule[a]!);
  if (rule[b]!.length === 0) return ca === 0 ? (count(text, absentUnless ?? []) === 0 ? b : null) : ca >= minVotes ? a : null;
  const cb = count(text, rule[b]!);
  if (ca >= minVotes && ca >= 3 * cb) return a;
  if (cb >= minVotes && cb >= 3 * ca) return b;
  return null;
}

const shuffle = <T>(xs: T[], seed: number): T[] => shuffleInPlace(xs, createRng(seed));

const tasks = values.only === undefined ? TASKS.filter((t) => t.dropped !== true) : TASKS.filter((t) => values.only!.split(',').includes(t.name));
const pool = await samplePool();
if (tasks.some((t) => (t.samples ?? SAMPLES) > pool.length)) throw new Error(`--samples ${N}: a task needs more stories than that`);
for (const task of tasks) {
  const unique = [...new Set(pool.slice(0, task.samples ?? SAMPLES).filter((t) => t.length >= 80))];
  const excluded = unique.filter((t) => task.exclude !== undefined && count(t, task.exclude) > 0).length;
  const byLabel = new Map<string, string[]>(Object.keys(task.rule).map((l) => [l, []]));
  for (const text of unique) {
    if (task.exclude !== undefined && count(text, task.exclude) > 0) continue;
    const l = label(text, task);
    if (l !== null) byLabel.get(l)!.push(text);
  }
  console.log(`${task.name}: pool ${task.samples ?? SAMPLES}, unique with >= 80 characters ${unique.length}, ${excluded} dropped for containing an answer word`);
  const per = Math.min(task.perLabel ?? PER_LABEL, ...[...byLabel.values()].map((v) => v.length));
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
  writeFileSync(join(dir, 'task.json'), JSON.stringify({ template: task.template, verbalizer: task.verbalizer, init_text: task.question, rule: task.rule, min_votes: task.minVotes, ...(task.exclude === undefined ? {} : { exclude: task.exclude }), ...(task.absentUnless === undefined ? {} : { absent_unless: task.absentUnless }) }, null, 2) + '\n');
  console.log(`${task.name}: labelled ${counts}; kept ${per} per label → train ${rows.length - nVal}, validation ${nVal}`);
}
