import { t } from 'elysia';
import { invalid } from './errors.ts';
import { findUnfitInput } from './input-check.ts';
import { isStorableTime } from './time.ts';

/**
 * An integer query parameter. Elysia decodes it from text, and when the number is out of range
 * it reports the error without the parameter's name (a `property` error on the bare schema);
 * `x-field` carries the name to the error handler, so the 422 says `query.<name>`.
 */
export const queryInteger = (name: string, options: { minimum: number; maximum: number; default?: number; description?: string }) =>
  t.Integer({ ...options, 'x-field': `query.${name}` });

const pageFields = {
  limit: t.Optional(queryInteger('limit', { minimum: 1, maximum: 100, default: 20 })),
  cursor: t.Optional(t.String({ maxLength: 512 })),
};

/** `?limit=` (1–100, default 20) and `?cursor=`, as every list in the contract takes them. */
export const PageQuery = t.Object(pageFields);

/** A list's query: the page fields, plus the list's own filters. */
export const pageQuery = <P extends import('@sinclair/typebox').TProperties>(filters: P) => t.Object({ ...pageFields, ...filters });

export const page = <T extends import('elysia').TSchema>(item: T) =>
  t.Object({ data: t.Array(item), nextCursor: t.Union([t.String(), t.Null()]) });

export type Page<T> = { data: T[]; nextCursor: string | null };

/** Cursors are opaque to clients: base64url of the sort key of the last item returned. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The 422 for a cursor this API did not give out. */
export const badCursor = () => invalid('query.cursor', 'is not a cursor this API gave out');

const numbersAreTimes = (value: unknown): boolean =>
  typeof value === 'number' ? isStorableTime(value) : Array.isArray(value) ? value.every(numbersAreTimes) : true;

export function decodeCursor<T>(cursor: string | undefined, isValid: (value: unknown) => value is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const value: unknown = JSON.parse(text);
    // A forged cursor must not smuggle into a query what the database refuses with an error: a
    // NUL or lone surrogate, or a time out of its range (the only numbers cursors hold are times).
    if (isValid(value) && !findUnfitInput(value, 'cursor', 4) && numbersAreTimes(value)) return value;
  } catch {
    // fall through to the error below
  }
  throw badCursor();
}

/** Given up to limit+1 rows, the page and the cursor of its last row when more follow. */
export function toPage<Row, Item>(rows: Row[], limit: number, cursorOf: (row: Row) => unknown, view: (row: Row) => Item): Page<Item> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { data: pageRows.map(view), nextCursor: more && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

export const isString = (value: unknown): value is string => typeof value === 'string';
