/**
 * The "hostile mix" of issue 16 for bench/serve_load.ts: while the normal clients run, one client
 * keeps sending near-limit /v1/classify requests (a field just under the character limit, the
 * label cap's worth of labels) and a prober times GET /health every 50 ms.
 */
export interface HostileReport {
  hostileRequests: number;
  hostileStatuses: Record<string, number>;
  health: { probes: number; p50: number; p99: number; max: number };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(1));
}

export interface HostileOptions {
  fieldChars?: number;
  labels?: number;
  /** Only the /health prober, no hostile client (the clean run's baseline for /health). */
  probeOnly?: boolean;
}

function hostileBody(model: string, opts: HostileOptions): string {
  const text = 'The little dog ran to the park and played. '.repeat(Math.ceil((opts.fieldChars ?? 190_000) / 43)).slice(0, opts.fieldChars ?? 190_000);
  const verbalizer = Object.fromEntries(Array.from({ length: opts.labels ?? 128 }, (_, i) => [`label${i}`, ` word${i}`]));
  return JSON.stringify({ model, input: text, template: '{text}\nThe story is about a', verbalizer });
}

/**
 * One near-limit request before the clock starts: the server's first one compiles the scorer it
 * uses and warms the tokenizer's code (a one-time cost, about 1-2 s, not the steady state the mix
 * measures). Returns its status and time.
 */
export async function warmHostile(url: string, model: string, opts: HostileOptions = {}): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: hostileBody(model, opts) });
  await res.text();
  return { status: res.status, ms: Math.round(performance.now() - t0) };
}

/** Runs the hostile client and the health prober until `until` resolves. */
export async function hostileMix(url: string, model: string, until: Promise<unknown>, opts: HostileOptions = {}): Promise<HostileReport> {
  let stop = false;
  void until.finally(() => (stop = true));
  const statuses: Record<string, number> = {};
  let hostileRequests = 0;
  const body = hostileBody(model, opts);
  const hostile = (async () => {
    while (!stop && !opts.probeOnly) {
      const res = await fetch(`${url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch(() => null);
      await res?.text();
      statuses[String(res?.status ?? 'network')] = (statuses[String(res?.status ?? 'network')] ?? 0) + 1;
      hostileRequests++;
    }
  })();
  const health: number[] = [];
  const prober = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`).catch(() => null);
      await res?.text();
      health.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.all([hostile, prober]);
  return { hostileRequests, hostileStatuses: statuses, health: { probes: health.length, p50: pct(health, 50), p99: pct(health, 99), max: pct(health, 100) } };
}
