/**
 * A load test against a running server: `clients` concurrent clients send completions for
 * `durationMs` (each loops until the time is up, then stops: the run is bounded), every request
 * carrying a unique id in its prompt. It counts statuses, 5xx, lost responses (a request that got
 * no answer), duplicated responses (an id or a completion id answered twice) and, with
 * `expectEcho` (an engine that echoes its prompt, as the tests' fake does), answers that carry
 * another request's id. Then it sends the same requests one at a time (at most
 * `sequentialMaxMs`, the rate measured over those sent) and reports both throughputs.
 */

export interface LoadOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  clients?: number;
  durationMs?: number;
  /** Model names used in turn (base and adapters: the batches mix them). */
  models: readonly string[];
  maxTokens?: number;
  /** Check that each answer's text holds its request's id. */
  expectEcho?: boolean;
  /** Time cap of the sequential pass (default durationMs). 0 skips it. */
  sequentialMaxMs?: number;
  /** Per-request client timeout (default 120 s). */
  requestTimeoutMs?: number;
}

export interface PassReport {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  completionTokensPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
}

export interface LoadReport {
  clients: number;
  durationMs: number;
  concurrent: PassReport & {
    statuses: Record<string, number>;
    errors5xx: number;
    /** Sent without any answer (network error, client timeout). */
    lost: number;
    duplicated: number;
    /** Answers whose text does not hold their request's id (with expectEcho). */
    mismatched: number;
  };
  sequential: PassReport | null;
  /** Concurrent requests/s over sequential requests/s. */
  speedup: number | null;
}

interface Sent {
  id: string;
  model: string;
  prompt: string;
}

interface Outcome {
  status: number;
  ms: number;
  completionTokens: number;
  responseId?: string;
  text?: string;
}

async function send(url: string, r: Sent, maxTokens: number, timeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: r.model, prompt: r.prompt, max_tokens: maxTokens, temperature: 0 }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json()) as { id?: string; choices?: { text: string }[]; usage?: { completion_tokens: number } };
  const ms = performance.now() - t0;
  const out: Outcome = { status: res.status, ms, completionTokens: body.usage?.completion_tokens ?? 0 };
  if (body.id !== undefined) out.responseId = body.id;
  if (body.choices?.[0] !== undefined) out.text = body.choices[0].text;
  return out;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function pass(latencies: number[], tokens: number, requests: number, seconds: number): PassReport {
  const s = [...latencies].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    requests,
    seconds: r(seconds),
    requestsPerSecond: r(requests / seconds),
    completionTokensPerSecond: r(tokens / seconds),
    latencyMs: { p50: r(quantile(s, 0.5)), p95: r(quantile(s, 0.95)), p99: r(quantile(s, 0.99)), max: r(s.at(-1) ?? 0) },
  };
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const clients = opts.clients ?? 16;
  const durationMs = opts.durationMs ?? 30_000;
  const maxTokens = opts.maxTokens ?? 8;
  const timeoutMs = opts.requestTimeoutMs ?? 120_000;
  const run = Math.random().toString(36).slice(2, 8);
  const sent: Sent[] = [];
  const answered = new Map<string, number>();
  const responseIds = new Set<string>();
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let lost = 0;
  let duplicated = 0;
  let mismatched = 0;
  let tokens = 0;
  let next = 0;

  const t0 = performance.now();
  const end = t0 + durationMs;
  async function client(c: number): Promise<void> {
    for (let k = 0; performance.now() < end; k++) {
      const n = next++;
      const id = `${run}-c${c}-r${k}`;
      const r: Sent = { id, model: opts.models[n % opts.models.length]!, prompt: `request ${id}: once upon a time` };
      sent.push(r);
      let o: Outcome;
      try {
        o = await send(opts.url, r, maxTokens, timeoutMs);
      } catch {
        lost++;
        continue;
      }
      statuses[o.status] = (statuses[o.status] ?? 0) + 1;
      if (o.status !== 200) {
        if (o.status === 429) await new Promise((d) => setTimeout(d, 50));
        continue;
      }
      latencies.push(o.ms);
      tokens += o.completionTokens;
      answered.set(id, (answered.get(id) ?? 0) + 1);
      if (answered.get(id)! > 1) duplicated++;
      if (o.responseId !== undefined) {
        if (responseIds.has(o.responseId)) duplicated++;
        responseIds.add(o.responseId);
      }
      if (opts.expectEcho && !(o.text ?? '').includes(id)) mismatched++;
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const seconds = (performance.now() - t0) / 1000;
  const errors5xx = Object.entries(statuses).filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + n, 0);
  const concurrent = { ...pass(latencies, tokens, latencies.length, seconds), statuses, errors5xx, lost, duplicated, mismatched };

  let sequential: PassReport | null = null;
  const seqMax = opts.sequentialMaxMs ?? durationMs;
  if (seqMax > 0 && sent.length > 0) {
    const s0 = performance.now();
    const seqLat: number[] = [];
    let seqTokens = 0;
    for (const r of sent) {
      if (performance.now() - s0 >= seqMax) break;
      const o = await send(opts.url, r, maxTokens, timeoutMs);
      if (o.status !== 200) continue;
      seqLat.push(o.ms);
      seqTokens += o.completionTokens;
    }
    sequential = pass(seqLat, seqTokens, seqLat.length, (performance.now() - s0) / 1000);
  }
  const speedup = sequential && sequential.requestsPerSecond > 0 ? Math.round((concurrent.requestsPerSecond / sequential.requestsPerSecond) * 100) / 100 : null;
  return { clients, durationMs, concurrent, sequential, speedup };
}
