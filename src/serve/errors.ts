/**
 * Errors of the HTTP server, each with the status it answers with. The body follows OpenAI's
 * error shape: { error: { message, type, param, code } }, where `param` names the request field
 * at fault (null when no single field is).
 */
import { SoftpromptError } from '../errors.ts';

export class ApiError extends SoftpromptError {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type: string = 'invalid_request_error',
    readonly code: string | null = null,
    /** Extra response headers (Retry-After on 429). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the field (`param`) that is wrong. */
export function badField(param: string, message: string): ApiError {
  return new ApiError(400, message, param, 'invalid_request_error', 'invalid_value');
}

/** The bounded queue is full: 429 with Retry-After (whole seconds). */
export class QueueFullError extends ApiError {
  constructor(readonly retryAfterS: number, queued: number, maxQueue: number) {
    super(
      429,
      `the server is busy: ${queued} requests are waiting (the queue holds ${maxQueue}); retry after ${retryAfterS} s`,
      null, 'rate_limit_exceeded', 'queue_full', { 'retry-after': String(retryAfterS) },
    );
  }
}

/** The request ran past its per-request timeout: 504. */
export class RequestTimeoutError extends ApiError {
  constructor(readonly timeoutMs: number) {
    super(
      504,
      `the request timed out after ${timeoutMs} ms (the server's per-request limit) before the model finished; ` +
        'ask for fewer max_tokens, retry later, or raise the server\'s --timeout-ms',
      null, 'timeout', 'request_timeout',
    );
  }
}

/** The server is shutting down and takes no new work: 503. */
export class ShuttingDownError extends ApiError {
  constructor() {
    super(503, 'the server is shutting down and accepts no new requests', null, 'service_unavailable', 'shutting_down');
  }
}

/** The client went away; nobody reads the answer (used internally to cancel queued work). */
export class ClientGoneError extends SoftpromptError {
  constructor() {
    super('the client closed the connection');
  }
}
