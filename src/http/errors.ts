// The one error type. Services throw it; the error handler (http/error-handler.ts) turns it, and
// every other failure, into the contract's shape. No route builds an error body by hand.

import { isDbUnavailable } from '../infra/db/errors.ts';
import { isKvUnavailable } from '../infra/kv/errors.ts';
import { ModelCannotTakeImagesError } from '../infra/llm/types.ts';
import { isStorageUnavailable } from '../infra/storage/errors.ts';

export const errorStatus = {
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  validation_error: 422,
  rate_limited: 429,
  quota_exceeded: 429,
  internal_error: 500,
  upstream_error: 502,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The contract's error shape; `requestId` (also in X-Request-Id) names the request in the server's log. */
export type ErrorBody = { error: { code: ErrorCode; message: string; details?: unknown; requestId?: string } };

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = errorStatus[code];
  }

  toBody(requestId?: string): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.options.details !== undefined) body.error.details = this.options.details;
    if (requestId) body.error.requestId = requestId;
    return body;
  }
}

export const notFound = (what = 'Resource') => new AppError('not_found', `${what} not found`);
export const unauthorized = (message = 'Authentication required') => new AppError('unauthorized', message);
export const forbidden = (message = 'Not allowed') => new AppError('forbidden', message);
export const conflict = (message: string) => new AppError('conflict', message);
/** The one way to build a 422: `details` name each field (`body.email`, `query.cursor`…) and what is wrong with it. */
export const invalidFields = (details: { field: string; message: string }[], summary = 'Request validation failed') =>
  new AppError('validation_error', summary, { details });
export const invalid = (field: string, message: string, summary?: string) => invalidFields([{ field, message }], summary);

/** Seconds a client is told to wait when a dependency is away: Redis reconnects within 2 s, Postgres within a few. */
export const outageRetryAfterSeconds = 5;

/**
 * The 503 for an infrastructure outage (the KV, the database or the file storage unreachable), or undefined for any
 * other error: the one mapping from infra failures to the contract, used by the error handler and
 * by the websocket hub for its frames.
 */
export function unavailableFrom(error: unknown): AppError | undefined {
  const dependency = isKvUnavailable(error)
    ? 'key-value store'
    : isDbUnavailable(error)
      ? 'database'
      : isStorageUnavailable(error)
        ? 'file storage'
        : undefined;
  if (!dependency) return undefined;
  return new AppError('unavailable', `The ${dependency} is unavailable right now; retry shortly`, {
    headers: { 'retry-after': String(outageRetryAfterSeconds) },
    cause: error,
  });
}

/**
 * The contract's error for anything the code knows how to answer, or undefined for a fault (a
 * 500): an AppError as it is; images a model cannot take as 422 on `body`; an infrastructure
 * outage as 503. The one mapping shared by the HTTP error handler and the websocket hub.
 */
export function knownError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  if (error instanceof ModelCannotTakeImagesError) return invalidFields([{ field: 'body', message: error.message }], error.message);
  return unavailableFrom(error);
}
