import { t } from 'elysia';

/**
 * Times the API takes in must fit both databases and Date itself. Postgres `timestamptz` gets
 * them as ISO text, which it cannot read past year 9999 (the six-digit `+010000-…` form Date writes
 * then) and reads wrongly before year 1000; SQLite stores milliseconds. Every time the API holds
 * was made after 1970, so that is where the range starts.
 */
export const minStorableTimeMs = 0;
export const maxStorableTimeMs = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Milliseconds since 1970 that both databases hold: an integer from 1970 to the end of 9999, UTC. */
export const isStorableTime = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= minStorableTimeMs && value <= maxStorableTimeMs;

/**
 * A date-time a client sends: RFC 3339 with a four-digit year (Elysia's `date-time` format alone
 * also takes `+099999-…`, `Mon Nov 30 2026 …` and more). A year-9999 time with a negative offset
 * (which would land in year 10000 UTC) is refused too.
 */
export const DateTimeInput = (options: { description?: string } = {}) =>
  t.String({
    format: 'date-time',
    pattern: '^(?!9999-12-31[Tt][^Zz+]*-)\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:[Zz]|[+-]\\d{2}:\\d{2})$',
    maxLength: 40,
    ...options,
  });
