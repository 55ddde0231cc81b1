// What every full-text search shares, on both dialects (chats: src/modules/chats/search.ts;
// transcripts: src/modules/transcripts/search.ts): the user's words as safe query terms for FTS5
// MATCH and for to_tsquery, Postgres's cap on the text it indexes, offset cursors, and snippets
// widened to grapheme boundaries with the matched words marked. Each search writes its own SQL
// (its tables differ); none of it takes user syntax.
import { type SQL, sql } from 'drizzle-orm';
import { graphemeCeil, graphemeExcerpt, graphemeFloor, graphemes, truncateGraphemes } from '../../text/graphemes.ts';

const maxTerms = 12;
// Runs of letters, digits and combining marks: roughly what unicode61 and Postgres's parser treat as word characters.
const wordPattern = /[\p{L}\p{N}\p{M}]+/gu;

/**
 * The user's words, as bare tokens (at most 12): runs of letters, digits and combining marks,
 * NFC, lower case. Everything else, quotes and operators included, is a separator, so no user
 * syntax ever reaches MATCH or to_tsquery.
 */
export function searchTerms(text: string): string[] {
  return (text.normalize('NFC').toLowerCase().match(wordPattern) ?? []).slice(0, maxTerms);
}

/** FTS5: every term quoted (so OR, NEAR, column: are plain words); the last one a prefix. */
export function toFtsQuery(terms: string[]): string {
  return terms.map((term, i) => `"${term}"${i === terms.length - 1 ? '*' : ''}`).join(' ');
}

/** tsquery text: every term a quoted lexeme, ANDed; the last one a prefix. */
export function toTsQuery(terms: string[]): string {
  return terms.map((term, i) => `'${term}'${i === terms.length - 1 ? ':*' : ''}`).join(' & ');
}

/**
 * Postgres searches the first this many characters of a text (migration 0006_search_text_cap):
 * to_tsvector fails once a text's lexemes pass 1 MB, and 100,000 characters stay under about
 * 600 KB whatever the text. The text is stored whole; SQLite's FTS5 has no such limit.
 */
export const searchableChars = 100_000;

/** `left(coalesce(column, ''), 100000)`: the capped text, written exactly as the GIN indexes write it. */
export const searchable = (column: SQL) => sql`left(coalesce(${column}, ''), ${sql.raw(String(searchableChars))})`;

/**
 * Postgres: `ts_headline('simple', <capped column>, tsq, …)`, a snippet of about 20 words around
 * the best match with no markers (highlightTerms marks the terms for the client, on both dialects).
 */
export const headline = (column: SQL, tsq: SQL) =>
  sql`ts_headline('simple', ${searchable(column)}, ${tsq}, ${'MaxWords=20, MinWords=8, ShortWord=2, MaxFragments=1, StartSel="", StopSel=""'})`;

/** `a, b, c` as bound values, for `IN (…)`. */
export const idList = (ids: string[]) =>
  sql.join(
    ids.map((id) => sql`${id}`),
    sql`, `,
  );

/** Opaque page cursor. It is an offset over a total order (score, time, id): pages never
 * repeat a hit while the data stands still; writes between pages may shift it by a few. */
export function encodeSearchCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

/** The offset in a cursor from `encodeSearchCursor`, or undefined for anything else. */
export function decodeSearchCursor(cursor: string): number | undefined {
  try {
    const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    return Number.isSafeInteger(o) && (o as number) >= 0 ? (o as number) : undefined;
  } catch {
    return undefined;
  }
}

const ellipsis = '…';
// When an engine's snippet cannot be found in the text it came from (it always can, today).
const fallbackSnippetLength = 200;

/**
 * A match's snippet, cut between characters. SQLite's snippet() and Postgres's ts_headline() cut
 * at their own token edges, which can fall inside a grapheme cluster (the vowel sign of का, the
 * keycap of 1️⃣, a mark after a space): the stretch of `body` they chose is found again and widened
 * to grapheme boundaries (UAX #29, src/text/graphemes.ts), with `…` where text was left out.
 */
export function wholeSnippet(body: string | null, snippet: string | null): string {
  if (body === null) return snippet ?? '';
  let core = snippet ?? '';
  if (core.startsWith(ellipsis)) core = core.slice(ellipsis.length);
  if (core.endsWith(ellipsis)) core = core.slice(0, -ellipsis.length);
  const at = core ? body.indexOf(core) : -1;
  if (at < 0) return truncateGraphemes(body, fallbackSnippetLength, ellipsis);
  return graphemeExcerpt(body, at, at + core.length, ellipsis);
}

/** Where a snippet shows a searched word: `snippet.slice(start, end)`, in UTF-16 code units. */
export type Highlight = { start: number; end: number };

/** Case and accents folded (é → e), as FTS5's unicode61 with remove_diacritics folds them. */
const fold = (text: string) => text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/**
 * The words of `snippet` that the search `terms` matched: a word equal to a term, or starting
 * with the last one (the prefix term), case and accents folded. Found in JS rather than by the
 * engines' markers so that both databases mark alike and the marks can never split a character:
 * each range starts and ends on a grapheme boundary (UAX #29). In order, never overlapping.
 */
export function highlightTerms(snippet: string, terms: string[]): Highlight[] {
  if (terms.length === 0) return [];
  const whole = new Set(terms.map(fold));
  const prefix = fold(terms[terms.length - 1]!);
  const segments = graphemes(snippet);
  const ranges: Highlight[] = [];
  for (const match of snippet.matchAll(wordPattern)) {
    const word = fold(match[0]);
    if (!whole.has(word) && !(prefix && word.startsWith(prefix))) continue;
    const start = graphemeFloor(snippet, match.index, segments);
    const end = graphemeCeil(snippet, match.index + match[0].length, segments);
    const last = ranges[ranges.length - 1];
    if (last && start <= last.end) last.end = Math.max(last.end, end);
    else ranges.push({ start, end });
  }
  return ranges;
}
