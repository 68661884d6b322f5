/**
 * The request body parser (issue 16): JSON in UTF-8 only, with errors that say what is wrong.
 * - A charset other than UTF-8 is a 415 naming it (fastify would decode it as UTF-8 and then
 *   report a misleading Content-Length mismatch).
 * - A "__proto__" key, or "constructor" holding "prototype" (prototype poisoning), is a 400
 *   naming the key's path rather than "not valid JSON".
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return m?.[1]?.toLowerCase();
}

/** Refuses bodies whose declared charset is not UTF-8 (415), before any byte is read. */
export function checkCharset(req: FastifyRequest): void {
  const charset = charsetOf(req.headers['content-type']);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(415, `the body's charset is ${charset}; send JSON encoded as UTF-8 (content-type: application/json; charset=utf-8)`, 'body', 'invalid_request_error', 'unsupported_media_type');
  }
}

/** JSON.parse, refusing prototype-poisoning keys with a 400 naming where they are. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new ApiError(400, 'the request body is empty; send a JSON object', 'body', 'invalid_request_error', 'invalid_json');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, 'body', 'invalid_request_error', 'invalid_json');
  }
  findForbiddenKey(value, 'body');
  return value;
}

function findForbiddenKey(v: unknown, path: string): void {
  // Iterative walk: a deeply nested body must not overflow the stack.
  const stack: [unknown, string][] = [[v, path]];
  while (stack.length > 0) {
    const [x, p] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (Array.isArray(x)) {
      x.forEach((y, i) => stack.push([y, `${p}[${i}]`]));
      continue;
    }
    for (const k of Object.keys(x)) {
      const child = (x as Record<string, unknown>)[k];
      const where = p === 'body' ? k : `${p}.${k}`;
      if (k === '__proto__' || (k === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype'))) {
        throw new ApiError(400, `the request body holds the key "${where}", which the server refuses (it could change objects' prototypes); remove it`, where, 'invalid_request_error', 'forbidden_key');
      }
      stack.push([child, where]);
    }
  }
}

/** Installs the parser and the charset check on `app` (replacing fastify's JSON parser). */
export function installJsonBody(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') checkCharset(req);
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}
