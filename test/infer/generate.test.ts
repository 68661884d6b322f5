/**
 * KV-cached generation: golden greedy ids, mixed-task batches equal the requests run alone (and
 * full recomputation), seeded sampling, stop strings, EOS and streaming.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAdapter } from '../../src/adapter/load.ts';
import { GOLDEN_CASES, greedyFullRecompute, loadGoldenCase } from '../../src/check/golden.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { createEngine } from '../../src/infer/engine.ts';
import type { Engine } from '../../src/infer/engine.ts';
import { Generator } from '../../src/infer/generator.ts';
import { TextTracker } from '../../src/infer/text.ts';
import type { GenerateRequest } from '../../src/infer/types.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';
import { goldenGenerationCases, writeAdapters } from './fixtures.ts';

describe('KV-cached greedy ids equal the golden generated_ids', () => {
  for (const name of GOLDEN_CASES) {
    test(name, async () => {
      const c = loadGoldenCase(GOLDEN, name);
      const tok = { decode: (ids: ArrayLike<number>) => Array.from(ids).join(' '), eosTokenId: undefined };
      const gen = await Generator.create(c.model.config, c.model.weights, tok);
      try {
        const { prompts, cases } = await goldenGenerationCases(c, gen);
        assert.notEqual(prompts[0]!.length, prompts[1]!.length, 'the two prompts differ in length (batched with padding)');
        for (const { key, prefix: p, steps, want } of cases) {
          // Both prompts in one batch, then each alone.
          const both = await gen.run(prompts.map((ids) => ({ promptIds: ids, prefix: p, options: { maxNewTokens: steps } })));
          assert.deepEqual(both.map((r) => r.ids), want, `${name} ${key} (batch of 2)`);
          for (const r of [0, 1]) {
            const [alone] = await gen.run([{ promptIds: prompts[r]!, prefix: p, options: { maxNewTokens: steps } }]);
            assert.deepEqual(alone!.ids, want[r], `${name} ${key} row ${r} alone`);
          }
          assert.ok(both.every((r) => r.finishReason === 'length'));
        }
      } finally {
        await gen.release();
      }
    });
  }
});

describe('engine on stories260K with three adapters', () => {
  let model: LoadedModel;
  let engine: Engine;
  let root: string;
  let dirs: Record<string, string>;
  before(async () => {
    model = await loadModel(STORIES);
    ({ root, dirs } = writeAdapters(model));
    engine = await createEngine({ model, adapters: root, maxBatchSize: 16 });
  });
  after(async () => {
    await engine?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('tasks() lists every adapter with its method and virtual tokens', () => {
    assert.equal(engine.baseModel, 'stories260K');
    assert.deepEqual(
      engine.tasks().map((t) => [t.name, t.method, t.numVirtualTokens]),
      [['prefix4', 'prefix_tuning', 4], ['ptune3', 'p_tuning', 3], ['soft7', 'prompt_tuning', 7]],
    );
  });

  const prompts = ['Once upon a time', 'The cat sat on the mat. It was a sunny day and', 'Lily', 'Tom had a big red ball. He', 'One day'];
  const requests = (): GenerateRequest[] => [
    { task: 'soft7', prompt: prompts[0]!, maxNewTokens: 45 },
    { task: null, prompt: prompts[1]!, maxNewTokens: 9 },
    { task: 'prefix4', prompt: prompts[2]!, maxNewTokens: 15 },
    { task: 'ptune3', prompt: prompts[3]!, maxNewTokens: 10 },
    { task: 'soft7', prompt: prompts[4]!, maxNewTokens: 6 },
    { task: null, prompt: prompts[2]!, maxNewTokens: 11 },
    { task: 'prefix4', prompt: prompts[1]!, maxNewTokens: 8 },
    { task: 'ptune3', prompt: prompts[0]!, maxNewTokens: 13 },
  ];

  test('a mixed-task batch gives exactly the ids of each request run alone', async () => {
    const batch = await engine.generate(requests());
    const alone = [];
    for (const r of requests()) alone.push((await engine.generate([r]))[0]!);
    assert.deepEqual(batch.map((r) => r.ids), alone.map((r) => r.ids));
    assert.deepEqual(batch.map((r) => r.text), alone.map((r) => r.text));
    assert.deepEqual(batch.map((r) => r.ids.length), requests().map((r) => r.maxNewTokens), 'no EOS in these: every row runs to its length');
    // Different tasks steer differently: the same prompt with and without an adapter differs.
    assert.notDeepEqual(batch[2]!.ids.slice(0, 8), batch[5]!.ids.slice(0, 8));
  });

  test('single requests equal full recomputation with the adapter (PEFT semantics)', async () => {
    for (const [task, prompt] of [['ptune3', prompts[3]!], ['prefix4', prompts[2]!], ['soft7', prompts[0]!]] as const) {
      const a = loadAdapter(dirs[task]!, model, { onWarning: () => {} });
      const program = buildProgram(model.config, model.weights, a.method, { fullLogits: true, loss: false, gradients: false });
      const session = await compileGraph(program.graph);
      const ids = model.tokenizer.encode(prompt);
      const want = await greedyFullRecompute(session, a.method, { ...a.params }, ids, 40);
      await session.release();
      const [got] = await engine.generate([{ task, prompt, maxNewTokens: 40, stopAtEos: false }]);
      assert.deepEqual(got!.ids, want, task);
      assert.equal(got!.promptTokens, ids.length);
    }
  });

  test('calls that overlap share batches and keep their results apart', async () => {
    const rs = requests();
    const separate = await Promise.all(rs.map((r) => engine.generate([r])));
    const together = await engine.generate(rs);
    assert.deepEqual(separate.map((x) => x[0]!.ids), together.map((x) => x.ids));
  });

  test('continuous batching: a request arriving mid-batch joins it, finishes first, and gets the ids it gets alone', async () => {
    const longReq: GenerateRequest = { task: 'prefix4', prompt: 'Once upon a time', maxNewTokens: 150, stopAtEos: false };
    const shortReqs: GenerateRequest[] = [
      { task: 'soft7', prompt: 'Tom had a big red ball. He', maxNewTokens: 6 },
      { task: null, prompt: 'Lily', maxNewTokens: 4 },
      { task: 'ptune3', prompt: 'One day', maxNewTokens: 8, temperature: 0.9, seed: 5 },
    ];
    const [longAlone] = await engine.generate([longReq]);
    const shortAlone = [];
    for (const r of shortReqs) shortAlone.push((await engine.generate([r]))[0]!);
    let longDone = false;
    const long = engine.generate([longReq]).then((r) => ((longDone = true), r));
    await new Promise((r) => setTimeout(r, 30));
    const short = await Promise.all(shortReqs.map((r) => engine.generate([r])));
    assert.equal(longDone, false, 'the short requests did not wait for the long one');
    assert.deepEqual(short.map((x) => x[0]!.ids), shortAlone.map((x) => x.ids));
    assert.deepEqual((await long)[0]!.ids, longAlone!.ids);
  });

  test('sampling: a seed reproduces, seeds differ, top-k 1 is greedy', async () => {
    const r: GenerateRequest = { task: 'soft7', prompt: 'Once upon a time', maxNewTokens: 20, temperature: 1.2, topP: 0.95, seed: 7, stopAtEos: false };
    const [a, b, c] = await engine.generate([r, r, { ...r, seed: 8 }]);
    assert.deepEqual(a!.ids, b!.ids);
    assert.notDeepEqual(a!.ids, c!.ids);
    const [alone] = await engine.generate([r]);
    assert.deepEqual(alone!.ids, a!.ids, 'a seeded row samples the same in a batch and alone');
    const [greedy, k1] = await engine.generate([
      { task: 'prefix4', prompt: 'Lily', maxNewTokens: 15 },
      { task: 'prefix4', prompt: 'Lily', maxNewTokens: 15, temperature: 0.7, topK: 1, seed: 3 },
    ]);
    assert.deepEqual(k1!.ids, greedy!.ids);
    const [k5] = await engine.generate([{ task: null, prompt: 'Lily', maxNewTokens: 30, temperature: 5, topK: 5, seed: 1 }]);
    assert.equal(k5!.ids.length > 0, true);
  });

  test('stop strings cut the text before them; EOS ends with finishReason eos', async () => {
    const [full] = await engine.generate([{ task: null, prompt: 'Once upon a time', maxNewTokens: 30 }]);
    assert.ok(full!.text.includes('.'), full!.text);
    const [stopped] = await engine.generate([{ task: null, prompt: 'Once upon a time', maxNewTokens: 30, stop: ['.', 'zzz'] }]);
    assert.equal(stopped!.finishReason, 'stop');
    assert.equal(stopped!.text, full!.text.slice(0, full!.text.indexOf('.')));
    const word = ' Lily';
    const [w] = await engine.generate([{ task: null, prompt: 'Once upon a time', maxNewTokens: 30, stop: [word] }]);
    assert.equal(w!.text, full!.text.slice(0, full!.text.indexOf(word)));
    // EOS: stories260K never emits its EOS, so a generator whose tokenizer calls a token of the
    // greedy text "EOS" must stop right before that token's first occurrence.
    const eos = full!.ids[6]!;
    const gen = await Generator.create(model.config, model.weights, { decode: (ids, o) => model.tokenizer.decode(ids, o), eosTokenId: eos });
    try {
      const promptIds = model.tokenizer.encode('Once upon a time');
      const [e, noEos] = await gen.run([
        { promptIds, prefix: null, options: { maxNewTokens: 30 } },
        { promptIds, prefix: null, options: { maxNewTokens: 30, stopAtEos: false } },
      ]);
      assert.equal(e!.finishReason, 'eos');
      assert.deepEqual(e!.ids, full!.ids.slice(0, full!.ids.indexOf(eos)));
      assert.equal(noEos!.finishReason, 'length');
      assert.deepEqual(noEos!.ids, full!.ids);
    } finally {
      await gen.release();
    }
  });

  test('generateStream yields the same text and ids as generate, last chunk with the finish reason', async () => {
    const r: GenerateRequest = { task: 'ptune3', prompt: 'Tom had a big red ball. He', maxNewTokens: 25, stop: [' ball'] };
    const [want] = await engine.generate([r]);
    const chunks = [];
    for await (const c of engine.generateStream(r)) chunks.push(c);
    assert.equal(chunks.map((c) => c.text).join(''), want!.text);
    assert.deepEqual(chunks.flatMap((c) => c.ids), want!.ids);
    assert.equal(chunks.at(-1)!.finishReason, want!.finishReason);
    assert.ok(chunks.slice(0, -1).every((c) => c.finishReason === undefined));
  });

  test('an aborted call rejects at once and its rows leave the batch; breaking out of a stream frees its row', async () => {
    const ac = new AbortController();
    const long = engine.generate([{ task: null, prompt: 'Once upon a time', maxNewTokens: 300, stopAtEos: false }], { signal: ac.signal });
    const other = engine.generate([{ task: 'soft7', prompt: 'Lily', maxNewTokens: 5 }]);
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(long, /aborted/);
    assert.equal((await other)[0]!.ids.length, 5);
    let n = 0;
    for await (const c of engine.generateStream({ task: null, prompt: 'Once', maxNewTokens: 300, stopAtEos: false })) {
      assert.equal(c.ids.length, 1);
      if (++n === 3) break;
    }
    const [after] = await engine.generate([{ task: 'prefix4', prompt: 'Lily', maxNewTokens: 4 }]);
    assert.equal(after!.ids.length, 4);
  });

  test('per-request signals: an abandoned request answers null at once, the others of its call are undisturbed', async () => {
    const keep: GenerateRequest = { task: 'soft7', prompt: 'Tom had a big red ball. He', maxNewTokens: 40, stopAtEos: false };
    const [alone] = await engine.generate([keep]);
    const ac = new AbortController();
    const call = engine.generate([{ task: null, prompt: 'Once upon a time', maxNewTokens: 450, stopAtEos: false }, keep], { signals: [ac.signal, undefined] });
    setTimeout(() => ac.abort(), 1);
    const [gone, kept] = await call;
    assert.equal(gone, null);
    assert.deepEqual(kept!.ids, alone!.ids);
    // A signal aborted before the call: that request never runs, the other does.
    const [never, ran] = await engine.generate([keep, keep], { signals: [AbortSignal.abort(), undefined] });
    assert.equal(never, null);
    assert.deepEqual(ran!.ids, alone!.ids);
  });

  test('an adapters folder with a broken adapter and a bad name: both skipped and reported, the rest load', async () => {
    const { mkdirSync, writeFileSync, cpSync } = await import('node:fs');
    const dir = join(root, 'mixed');
    mkdirSync(join(dir, 'broken'), { recursive: true });
    writeFileSync(join(dir, 'broken', 'adapter_config.json'), '{"peft_type": "LORA"');
    cpSync(dirs['prefix4']!, join(dir, 'good'), { recursive: true });
    cpSync(dirs['soft7']!, join(dir, '-bad name'), { recursive: true });
    const warnings: string[] = [];
    const e = await createEngine({ model, adapters: dir, onWarning: (m) => warnings.push(m) });
    try {
      assert.deepEqual(e.tasks().map((t) => t.name), ['good']);
      assert.deepEqual(e.skipped.map((s) => s.name).sort(), ['-bad name', 'broken']);
      assert.equal(warnings.length, 2);
      const [r] = await e.generate([{ task: 'good', prompt: 'Lily', maxNewTokens: 15 }]);
      const [want] = await engine.generate([{ task: 'prefix4', prompt: 'Lily', maxNewTokens: 15 }]);
      assert.deepEqual(r!.ids, want!.ids);
    } finally {
      await e.close();
    }
    await assert.rejects(e.generate([{ task: null, prompt: 'x', maxNewTokens: 2 }]), /closed/);
  });

  test('bad requests are refused naming the field', async () => {
    await assert.rejects(engine.generate([{ task: 'nope', prompt: 'x', maxNewTokens: 3 }]), (e: Error & { field?: string }) => e.field === 'task');
    await assert.rejects(engine.generate([{ task: null, prompt: 'x', maxNewTokens: 0 }]), (e: Error & { field?: string }) => e.field === 'maxNewTokens');
    await assert.rejects(engine.generate([{ task: null, prompt: 'x', maxNewTokens: 3, topP: 2 }]), (e: Error & { field?: string }) => e.field === 'topP');
    await assert.rejects(engine.generate([{ task: null, prompt: 'x'.repeat(2000), maxNewTokens: 3 }]), (e: Error & { field?: string }) => e.field === 'prompt');
    const stream = engine.generateStream({ task: 'nope', prompt: 'x', maxNewTokens: 3 });
    await assert.rejects(async () => {
      for await (const _ of stream) void _;
    });
  });
});

describe('TextTracker', () => {
  const tok = { decode: (ids: ArrayLike<number>) => Array.from(ids, (i) => String.fromCharCode(97 + i)).join('') };
  test('holds back a partial stop string and releases it when it does not complete', () => {
    const t = new TextTracker(tok, [], ['cde']);
    assert.equal(t.push(0), 'a');
    assert.equal(t.push(2), ''); // "c" could start "cde"
    assert.equal(t.push(3), ''); // "cd"
    assert.equal(t.push(0), 'cda');
    assert.equal(t.push(2), '');
    assert.equal(t.push(3), '');
    assert.equal(t.push(4), '');
    assert.equal(t.stopped, true);
    assert.equal(t.text, 'acda');
  });
});

describe('TextTracker on a real tokenizer', () => {
  test('a long output decodes to the same text as decoding all its tokens at once', async () => {
    const model = await loadModel(STORIES);
    const tok = model.tokenizer;
    const prompt = tok.encode('Once upon a time');
    const story = tok.encode(' there was a little girl named Lily. She loved to play outside in the park. '.repeat(12), { addSpecialTokens: false });
    const t = new TextTracker(tok, prompt);
    let streamed = '';
    for (const id of story) streamed += t.push(id);
    streamed += t.flush();
    const want = tok.decode([...prompt, ...story], { skipSpecialTokens: true }).slice(tok.decode(prompt, { skipSpecialTokens: true }).length);
    assert.equal(t.text, want);
    assert.equal(streamed, want);
    assert.ok(story.length > 200);
  });
});
