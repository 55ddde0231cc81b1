/**
 * The key-value store could not be reached (Redis down, the connection cut, a command lost with
 * it): the operation may work again shortly. Thrown by the stores instead of the client's own
 * errors, so callers can tell an outage (503 `unavailable`, hold and retry) from a bug or a bad
 * value, which keep their own error.
 */
export class KvUnavailableError extends Error {
  override readonly name = 'KvUnavailableError';

  constructor(operation: string, cause?: unknown) {
    const reason = cause instanceof Error ? cause.message : cause === undefined ? 'not connected' : String(cause);
    super(`The key-value store is unavailable (${operation}): ${reason}`, { cause });
  }
}

export const isKvUnavailable = (error: unknown): error is KvUnavailableError => error instanceof KvUnavailableError;
