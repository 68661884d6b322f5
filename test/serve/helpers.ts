/** Shared by the server tests: a server over the fake engine, and small HTTP helpers. */
import type { FastifyInstance } from 'fastify';
import { createServer, listen } from '../../src/serve/server.ts';
import type { ServerOptions } from '../../src/serve/server.ts';
import { FakeEngine } from './fake_engine.ts';
import type { FakeEngineOptions } from './fake_engine.ts';

export interface TestServer {
  app: FastifyInstance;
  engine: FakeEngine;
}

export function fakeServer(engineOpts: FakeEngineOptions = {}, serverOpts: Partial<ServerOptions> = {}): TestServer {
  const engine = new FakeEngine(engineOpts);
  const app = createServer({ batchWindowMs: 5, ...serverOpts, engine });
  return { app, engine };
}

/** A fake-engine server listening on 127.0.0.1 at a free port. */
export async function listeningServer(engineOpts: FakeEngineOptions = {}, serverOpts: Partial<ServerOptions> = {}): Promise<TestServer & { url: string }> {
  const s = fakeServer(engineOpts, serverOpts);
  const url = await listen(s.app, { port: 0 });
  return { ...s, url };
}

export interface JsonResponse {
  status: number;
  headers: Record<string, unknown>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** POSTs `body` (an object, serialized; or a raw string) through fastify's inject. */
export async function post(app: FastifyInstance, url: string, body: unknown, contentType = 'application/json'): Promise<JsonResponse> {
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': contentType },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? JSON.parse(res.body) : undefined };
}

export async function get(app: FastifyInstance, url: string): Promise<JsonResponse> {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body) };
}

/** fetch + JSON, over the network. */
export async function postHttp(base: string, path: string, body: unknown): Promise<JsonResponse> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: text ? JSON.parse(text) : undefined };
}

export const sleep = (ms: number): Promise<void> => new Promise((d) => setTimeout(d, ms));

/** Waits until `cond()` holds (polling every 5 ms); fails after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}
