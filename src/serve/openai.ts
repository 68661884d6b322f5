/**
 * The bodies of POST /v1/completions and POST /v1/chat/completions, in OpenAI's shapes.
 *
 * Each prompt gets `best_of` (default n) independent samples, choice j seeded with seed + j, so the
 * same seed gives the same choices; with best_of > n the n of highest mean log-probability per token
 * are returned. `echo` with `logprobs` scores the prompt's own tokens in the engine's score graph
 * (the first token's log-probability is null), then the generated tokens follow in the same arrays;
 * `max_tokens: 0` scores the prompt only. Streams run one engine stream per choice, merged.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { FinishReason, GenerateChunk, GenerateRequest, GenerateResult, InferenceEngine, PromptLogprobs, TokenLogprob } from '../infer/types.ts';
import type { ChatParams, ChatTemplate } from './chat.ts';
import { noChatTemplate } from './chat.ts';
import { ApiError, badField, ClientGoneError } from './errors.ts';
import type { Scheduler, StreamLease } from './scheduler.ts';
import type { CompletionParams, SamplingParams } from './validate.ts';

/** What a route needs from the server. */
export interface RouteContext {
  readonly engine: InferenceEngine;
  readonly scheduler: Scheduler;
  /** Streams running at once at most (a streamed request needs one per choice). */
  readonly maxStreams: number;
  readonly chatTemplate: ChatTemplate | null;
  /** Maps an error to the 4xx/5xx the client gets (for errors inside a stream). */
  toApiError(err: unknown): ApiError;
}

/** OpenAI's finish reasons are "stop" and "length"; EOS is a stop. */
export function finishReason(r: FinishReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

/** Resolves as `p` does, or rejects with the signal's reason when it aborts first. */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** The engine request of choice j of one prompt. */
function generateRequest(task: string | null, prompt: string | readonly number[], p: SamplingParams, j: number, extra: Partial<GenerateRequest>): GenerateRequest {
  return {
    task,
    prompt,
    maxNewTokens: p.maxTokens,
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.topP !== undefined ? { topP: p.topP } : {}),
    ...(p.topK !== undefined ? { topK: p.topK } : {}),
    ...(p.seed !== undefined ? { seed: p.seed + j } : {}),
    ...(p.stop !== undefined ? { stop: p.stop } : {}),
    ...(p.logitBias !== undefined ? { logitBias: p.logitBias } : {}),
    ...(p.frequencyPenalty !== undefined ? { frequencyPenalty: p.frequencyPenalty } : {}),
    ...(p.presencePenalty !== undefined ? { presencePenalty: p.presencePenalty } : {}),
    ...extra,
  };
}

/** Mean log-probability per generated token (best_of's ranking). */
function meanLogprob(r: GenerateResult): number {
  const lp = r.logprobs ?? [];
  return lp.length === 0 ? 0 : lp.reduce((s, t) => s + t.logprob, 0) / lp.length;
}

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[] | null;
  text_offset: number[];
}

/** The completions API's logprobs of tokens (pieces and alternatives as they read in context), offsets shifted by `at`. */
async function completionLogprobs(
  engine: InferenceEngine,
  ids: readonly number[],
  logprobs: readonly (number | null)[],
  top: readonly (readonly { id: number; logprob: number }[] | null)[],
  context: readonly number[],
  at: number,
  k: number,
): Promise<CompletionLogprobs & { text: string }> {
  const d = await engine.detokenize(ids, { context, skipSpecialTokens: true, alternatives: top.map((t) => (t ? t.map((x) => x.id) : null)) });
  return {
    text: d.text,
    tokens: d.tokens,
    token_logprobs: [...logprobs],
    top_logprobs: k > 0 || top.some((t) => t === null) ? top.map((t, i) => (t === null ? null : Object.fromEntries(t.map((x, j) => [d.alternatives[i]![j]!, x.logprob])))) : null,
    text_offset: d.offsets.map((o) => o + at),
  };
}

function generatedLogprobs(r: GenerateResult): { ids: number[]; logprobs: number[]; top: TokenLogprob['top'][] } {
  const lp = r.logprobs ?? [];
  return { ids: lp.map((t) => t.id), logprobs: lp.map((t) => t.logprob), top: lp.map((t) => t.top) };
}

/** POST /v1/completions (non-streaming). */
export async function completions(ctx: RouteContext, p: CompletionParams, task: string | null, model: string, signal: AbortSignal): Promise<unknown> {
  const { engine, scheduler } = ctx;
  const wantLogprobs = p.logprobs !== null || p.bestOf > p.n;
  const requests = p.prompts.flatMap((prompt) =>
    Array.from({ length: p.bestOf }, (_, j) => generateRequest(task, prompt, p, j, wantLogprobs ? { logprobs: p.logprobs ?? 0 } : {})),
  );
  const generated: GenerateResult[] = p.maxTokens > 0 ? await scheduler.generate(requests, signal) : [];
  const scores: PromptLogprobs[] | null = p.echo && p.logprobs !== null
    ? await untilAborted(engine.score(p.prompts.map((prompt) => ({ task, prompt, topK: p.logprobs! })), { signal }), signal)
    : null;
  // Prompt lengths when nothing was generated: the scores', or a tokenization.
  const promptIds = await Promise.all(p.prompts.map(async (prompt, i) => scores?.[i]!.ids ?? (typeof prompt === 'string' ? (p.maxTokens === 0 ? await engine.tokenize(prompt) : null) : prompt)));

  const choices: unknown[] = [];
  let completionTokens = 0;
  let promptTokens = 0;
  for (let i = 0; i < p.prompts.length; i++) {
    const prompt = p.prompts[i]!;
    const mine = generated.slice(i * p.bestOf, (i + 1) * p.bestOf);
    completionTokens += mine.reduce((s, r) => s + r.ids.length, 0);
    promptTokens += mine[0]?.promptTokens ?? promptIds[i]?.length ?? 0;
    const picked: (GenerateResult | null)[] = p.maxTokens === 0 ? Array.from({ length: p.n }, () => null)
      : p.bestOf > p.n ? [...mine].sort((a, b) => meanLogprob(b) - meanLogprob(a)).slice(0, p.n) : mine;
    for (const r of picked) {
      let text = r?.text ?? '';
      let logprobs: CompletionLogprobs | null = null;
      let at = 0;
      let echoPart: (CompletionLogprobs & { text: string }) | null = null;
      if (p.echo) {
        const s = scores?.[i];
        if (s) {
          echoPart = await completionLogprobs(engine, s.ids, s.logprobs, s.top, [], 0, p.logprobs!);
          text = echoPart.text + text;
          at = echoPart.text.length;
        } else {
          text = (typeof prompt === 'string' ? prompt : (await engine.detokenize(prompt, { skipSpecialTokens: true })).text) + text;
        }
      }
      if (p.logprobs !== null) {
        const g = r ? generatedLogprobs(r) : { ids: [], logprobs: [], top: [] };
        const ctxIds = (r ? (typeof prompt === 'string' ? promptIds[i] ?? [] : prompt) : []).slice(-4);
        const gen = g.ids.length > 0 ? await completionLogprobs(engine, g.ids, g.logprobs, g.top, ctxIds, at, p.logprobs) : null;
        logprobs = {
          tokens: [...(echoPart?.tokens ?? []), ...(gen?.tokens ?? [])],
          token_logprobs: [...(echoPart?.token_logprobs ?? []), ...(gen?.token_logprobs ?? [])],
          top_logprobs: [...(echoPart?.top_logprobs ?? []), ...(gen?.top_logprobs ?? g.ids.map(() => ({})))],
          text_offset: [...(echoPart?.text_offset ?? []), ...(gen?.text_offset ?? [])],
        };
      }
      choices.push({ text, index: choices.length, logprobs, finish_reason: r ? finishReason(r.finishReason) : 'length' });
    }
  }
  return {
    id: `cmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

/** The chat API's logprobs entry of tokens. */
async function chatLogprobs(engine: InferenceEngine, lp: readonly TokenLogprob[], context: readonly number[], k: number): Promise<{ content: unknown[]; refusal: null }> {
  if (lp.length === 0) return { content: [], refusal: null };
  const d = await engine.detokenize(lp.map((t) => t.id), { context, skipSpecialTokens: true, alternatives: lp.map((t) => t.top.slice(0, k).map((x) => x.id)) });
  const bytes = (s: string): number[] => [...Buffer.from(s, 'utf8')];
  return {
    content: lp.map((t, i) => ({
      token: d.tokens[i]!,
      logprob: t.logprob,
      bytes: bytes(d.tokens[i]!),
      top_logprobs: t.top.slice(0, k).map((x, j) => ({ token: d.alternatives[i]![j]!, logprob: x.logprob, bytes: bytes(d.alternatives[i]![j]!) })),
    })),
    refusal: null,
  };
}

/** The chat prompt's token ids (the template writes the special tokens). */
export async function chatPromptIds(ctx: RouteContext, p: ChatParams, model: string): Promise<number[]> {
  if (!ctx.chatTemplate) throw noChatTemplate(model);
  const text = ctx.chatTemplate.render(p.messages);
  return ctx.engine.tokenize(text, { addSpecialTokens: false });
}

/** POST /v1/chat/completions (non-streaming). */
export async function chatCompletions(ctx: RouteContext, p: ChatParams, task: string | null, model: string, signal: AbortSignal): Promise<unknown> {
  const ids = await chatPromptIds(ctx, p, model);
  const extra: Partial<GenerateRequest> = { stopTokenIds: ctx.chatTemplate!.stopTokenIds, ...(p.topLogprobs !== null ? { logprobs: p.topLogprobs } : {}) };
  const requests = Array.from({ length: p.n }, (_, j) => generateRequest(task, ids, p, j, extra));
  const results = await ctx.scheduler.generate(requests, signal);
  const choices = [];
  for (const [index, r] of results.entries()) {
    choices.push({
      index,
      message: { role: 'assistant', content: r.text, refusal: null },
      logprobs: p.topLogprobs !== null ? await chatLogprobs(ctx.engine, r.logprobs ?? [], ids.slice(-4), p.topLogprobs) : null,
      finish_reason: finishReason(r.finishReason),
    });
  }
  const completionTokens = results.reduce((s, r) => s + r.ids.length, 0);
  return {
    id: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    usage: { prompt_tokens: ids.length, completion_tokens: completionTokens, total_tokens: ids.length + completionTokens },
  };
}

/** One event of a merged stream: choice `index`'s chunk, or its end. */
type Merged = { index: number; chunk: GenerateChunk };

/** Formats the stream's pieces for one API. */
export interface StreamFormat {
  /** Chunks sent before any text (chat: the role). */
  start(index: number): Promise<unknown | null> | unknown | null;
  chunk(index: number, c: GenerateChunk, before: readonly number[]): Promise<unknown>;
  usage(promptTokens: number, completionTokens: number): unknown;
}

/**
 * Runs one engine stream per request and sends their chunks as server-sent events as they come,
 * then `[DONE]`. The status is decided only once every stream has started and the first chunk is
 * there, so a full queue, a timeout or an engine error before it still get their own status.
 */
export async function streamChoices(
  ctx: RouteContext,
  reply: FastifyReply,
  requests: readonly GenerateRequest[],
  format: StreamFormat,
  opts: { signal: AbortSignal; done: () => void; includeUsage: boolean; promptIds?: readonly number[] },
): Promise<FastifyReply> {
  const { signal, done } = opts;
  if (requests.length > ctx.maxStreams) {
    done();
    throw badField('n', `this stream needs ${requests.length} engine streams (prompts × n); the server runs at most ${ctx.maxStreams} at once`);
  }
  const leases: StreamLease[] = [];
  const finished = requests.map(() => false);
  const stopAll = (): void => {
    leases.forEach((l, i) => {
      if (!finished[i]) {
        finished[i] = true;
        void Promise.resolve(l.iterator.return?.()).catch(() => {});
      }
      l.release();
    });
    done();
  };
  // A queue the streams feed; the response reads it in arrival order.
  const queue: (Merged | { error: unknown })[] = [];
  let wake: (() => void) | null = null;
  const push = (e: Merged | { error: unknown }): void => {
    queue.push(e);
    const w = wake;
    wake = null;
    w?.();
  };
  let open = 0;
  try {
    for (const r of requests) leases.push(await ctx.scheduler.openStream(r, signal));
  } catch (err) {
    stopAll();
    throw err;
  }
  leases.forEach((lease, index) => {
    open++;
    void (async () => {
      try {
        for (;;) {
          const r = await untilAborted(lease.iterator.next(), signal);
          if (r.done) break;
          push({ index, chunk: r.value });
        }
        finished[index] = true;
      } catch (error) {
        push({ error });
      } finally {
        open--;
        if (open === 0) push({ error: null });
      }
    })();
  });
  const next = async (): Promise<Merged | { error: unknown }> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    return queue.shift()!;
  };
  let first: Merged | { error: unknown };
  try {
    first = await next();
    if ('error' in first && first.error !== null) throw first.error;
  } catch (err) {
    stopAll();
    throw err;
  }
  const generatedBy = requests.map((r) => (typeof r.prompt === 'string' ? [] : r.prompt.slice(-4)));
  async function* events(): AsyncGenerator<string> {
    let promptTokens = 0;
    let completionTokens = 0;
    const counted = new Set<string>();
    try {
      for (let i = 0; i < requests.length; i++) {
        const s = await format.start(i);
        if (s !== null) yield `data: ${JSON.stringify(s)}\n\n`;
      }
      let e = first;
      for (;;) {
        if ('error' in e) {
          if (e.error !== null) throw e.error;
          break;
        }
        const { index, chunk } = e;
        completionTokens += chunk.ids.length;
        const promptKey = typeof requests[index]!.prompt === 'string' ? requests[index]!.prompt as string : JSON.stringify(requests[index]!.prompt);
        if (chunk.promptTokens !== undefined && !counted.has(promptKey)) {
          counted.add(promptKey);
          promptTokens += chunk.promptTokens;
        }
        yield `data: ${JSON.stringify(await format.chunk(index, chunk, generatedBy[index]!))}\n\n`;
        generatedBy[index] = [...generatedBy[index]!, ...chunk.ids].slice(-4);
        e = await next();
      }
      if (opts.includeUsage) yield `data: ${JSON.stringify(format.usage(promptTokens, completionTokens))}\n\n`;
      yield 'data: [DONE]\n\n';
    } catch (err) {
      if (!(err instanceof ClientGoneError)) yield `data: ${JSON.stringify(ctx.toApiError(err).body())}\n\n`;
    } finally {
      stopAll();
    }
  }
  return reply
    .code(200)
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(Readable.from(events(), { objectMode: false }));
}

/** POST /v1/completions with stream: true. */
export async function streamCompletions(ctx: RouteContext, reply: FastifyReply, p: CompletionParams, task: string | null, model: string, sig: { signal: AbortSignal; done: () => void }): Promise<FastifyReply> {
  const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const requests = p.prompts.flatMap((prompt) => Array.from({ length: p.n }, (_, j) => generateRequest(task, prompt, p, j, p.logprobs !== null ? { logprobs: p.logprobs } : {})));
  const offsets = requests.map(() => 0);
  const base = { id, object: 'text_completion', created, model };
  return streamChoices(ctx, reply, requests, {
    start: () => null,
    chunk: async (index, c, before) => {
      let logprobs: CompletionLogprobs | null = null;
      if (p.logprobs !== null && c.logprobs) {
        const lp = c.logprobs;
        logprobs = await completionLogprobs(ctx.engine, lp.map((t) => t.id), lp.map((t) => t.logprob), lp.map((t) => t.top), before, offsets[index]!, p.logprobs);
        delete (logprobs as { text?: string }).text;
      }
      offsets[index]! += c.text.length;
      return { ...base, choices: [{ text: c.text, index, logprobs, finish_reason: c.finishReason ? finishReason(c.finishReason) : null }] };
    },
    usage: (pt, ct) => ({ ...base, choices: [], usage: { prompt_tokens: pt, completion_tokens: ct, total_tokens: pt + ct } }),
  }, { ...sig, includeUsage: p.includeUsage });
}

/** POST /v1/chat/completions with stream: true. */
export async function streamChat(ctx: RouteContext, reply: FastifyReply, p: ChatParams, task: string | null, model: string, sig: { signal: AbortSignal; done: () => void }): Promise<FastifyReply> {
  let ids: number[];
  try {
    ids = await chatPromptIds(ctx, p, model);
  } catch (e) {
    sig.done();
    throw e;
  }
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const extra: Partial<GenerateRequest> = { stopTokenIds: ctx.chatTemplate!.stopTokenIds, ...(p.topLogprobs !== null ? { logprobs: p.topLogprobs } : {}) };
  const requests = Array.from({ length: p.n }, (_, j) => generateRequest(task, ids, p, j, extra));
  const base = { id, object: 'chat.completion.chunk', created, model };
  return streamChoices(ctx, reply, requests, {
    start: (index) => ({ ...base, choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }),
    chunk: async (index, c, before) => ({
      ...base,
      choices: [{
        index,
        delta: c.text !== '' || !c.finishReason ? { content: c.text } : {},
        logprobs: p.topLogprobs !== null ? await chatLogprobs(ctx.engine, c.logprobs ?? [], before, p.topLogprobs) : null,
        finish_reason: c.finishReason ? finishReason(c.finishReason) : null,
      }],
    }),
    usage: (_pt, ct) => ({ ...base, choices: [], usage: { prompt_tokens: ids.length, completion_tokens: ct, total_tokens: ids.length + ct } }),
  }, { ...sig, includeUsage: p.includeUsage });
}
