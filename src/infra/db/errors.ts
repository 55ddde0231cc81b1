// Which database failures are an outage (the server unreachable, the connection cut, the server
// shutting down, SQLite's lock not granted in time) rather than a bug or a bad value: those may
// work again shortly, and the error handler answers them 503 `unavailable` instead of 500.

// Socket errors, as Node and Bun name them.
const socketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
// postgres.js's own connection errors (`write CONNECTION_CLOSED host:port`…).
const driverCodes = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/** SQLSTATEs that say the server cannot serve right now: connection exceptions (08…), shutting down or starting (57P01-03), too many connections. */
const unavailableSqlState = (code: string) => /^08[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300';

/** Whether `error`, or an error it wraps (Drizzle's DrizzleQueryError keeps the driver's as `cause`), is a database outage. */
export function isDbUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (socketCodes.has(code) || driverCodes.has(code)) return true;
      // bun:sqlite: SQLITE_BUSY and its extended codes, once busy_timeout has passed.
      if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
      if ((current as { name?: unknown }).name === 'PostgresError' && unavailableSqlState(code)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The message of the innermost error `error` wraps: the driver's own ("connect ECONNREFUSED …"),
 * not a wrapper's, which may quote the query and its values (Drizzle's "Failed query: … params: …").
 */
export function rootCause(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause instanceof Error; depth++) current = current.cause;
  return current instanceof Error ? current.message : undefined;
}
