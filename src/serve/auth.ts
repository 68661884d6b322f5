/**
 * API-key auth (`--api-key`): every route but /health and CORS preflights needs
 * `Authorization: Bearer <key>`. The key is compared in constant time: both sides are hashed
 * first (SHA-256), since timingSafeEqual needs equal lengths and a length check would leak the
 * key's length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** True when `given` equals `key`, in time that does not depend on where they differ. */
export function keysEqual(given: string, key: string): boolean {
  return timingSafeEqual(digest(given), digest(key));
}

/** Routes open without a key. */
const OPEN = new Set(['/health']);

/** Throws the 401 (OpenAI's shape) unless the request may pass. */
export function checkAuth(req: FastifyRequest, key: string): void {
  const path = req.url.split('?')[0]!;
  if (OPEN.has(path)) return;
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) return; // a CORS preflight
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
  if (!m) {
    throw new ApiError(401, "you didn't provide an API key: send it as the header Authorization: Bearer <key> (the server was started with --api-key)", null, 'invalid_request_error', 'missing_api_key');
  }
  if (!keysEqual(m[1]!, key)) throw new ApiError(401, 'incorrect API key provided', null, 'invalid_request_error', 'invalid_api_key');
}

/** Loopback hosts: binding anything else without a key exposes the server. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
