// Full-text search over a user's transcripts: their titles and frozen messages. The same design
// as chat search (src/modules/chats/search.ts), on this room's tables: FTS5 on SQLite, tsvector +
// GIN on Postgres (migrations transcripts_search), with the shared pieces of
// infra/db/fulltext.ts: safe terms, a prefix last word, capped Postgres text, snippets widened
// to grapheme boundaries, and the matched words marked.
import { type SQL, sql } from 'drizzle-orm';
import {
  type Highlight,
  headline,
  highlightTerms,
  idList,
  searchable,
  searchTerms,
  toFtsQuery,
  toTsQuery,
  wholeSnippet,
} from '../../infra/db/fulltext.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type TranscriptMatch = { position: number | null; snippet: string; highlights: Highlight[] };
export type TranscriptHit = { transcriptId: string; matches: TranscriptMatch[] };

const maxMatchesPerTranscript = 3;
// Only a guard: the route caps limit at 100 and asks for one more to detect a next page.
const maxLimit = 200;
// Title hits count double, as for chats.
const titleBoost = sql.raw('2');

type PageRow = { transcript_id: string };
type MatchRow = { transcript_id: string; position: number | string | null; body: string | null; snippet: string | null };

/** Full-text search over transcripts; `search.with(tx)` runs it inside a unit of work. */
export function createTranscriptSearch(db: Database) {
  const dialect = db.kind === 'sqlite' ? sqlite : postgres;

  return repository((tx: Tx | undefined) => ({
    /** The user's transcripts matching every word, best first, up to 3 matches each (the title first). */
    async search(userId: string, text: string, options: { limit: number; offset?: number }): Promise<TranscriptHit[]> {
      const terms = searchTerms(text);
      if (terms.length === 0) return [];
      const limit = Math.min(Math.max(Math.trunc(options.limit) || 1, 1), maxLimit);
      const offset = Math.max(Math.trunc(options.offset ?? 0) || 0, 0);

      const page = await db.raw<PageRow>(dialect.page(terms, userId, limit, offset), tx);
      if (page.length === 0) return [];
      const ids = page.map((row) => row.transcript_id);
      const rows = await db.raw<MatchRow>(dialect.matches(terms, ids), tx);

      const byTranscript = new Map<string, TranscriptMatch[]>(ids.map((id) => [id, []]));
      for (const row of rows) {
        const snippet = wholeSnippet(row.body, row.snippet);
        byTranscript.get(row.transcript_id)?.push({
          position: row.position === null ? null : Number(row.position),
          snippet,
          highlights: highlightTerms(snippet, terms),
        });
      }
      return ids.map((transcriptId) => ({ transcriptId, matches: byTranscript.get(transcriptId)! }));
    },
  }));
}

export type TranscriptSearch = ReturnType<typeof createTranscriptSearch>;

// SQLite. bm25() is lower-is-better; the FTS tables index every user's rows and the join on
// transcripts.user_id scopes them.
const sqlite = {
  page(terms: string[], userId: string, limit: number, offset: number): SQL {
    const match = toFtsQuery(terms);
    return sql`
      WITH hits AS (
        SELECT t.id AS transcript_id, bm25(transcripts_fts) * ${titleBoost} AS score
          FROM transcripts_fts JOIN transcripts t ON t.rowid = transcripts_fts.rowid
         WHERE transcripts_fts MATCH ${match} AND t.user_id = ${userId}
        UNION ALL
        SELECT t.id, bm25(transcript_messages_fts)
          FROM transcript_messages_fts
          JOIN transcript_messages m ON m.rowid = transcript_messages_fts.rowid
          JOIN transcripts t ON t.id = m.transcript_id
         WHERE transcript_messages_fts MATCH ${match} AND t.user_id = ${userId}
      )
      SELECT h.transcript_id FROM hits h JOIN transcripts t ON t.id = h.transcript_id
       GROUP BY h.transcript_id
       ORDER BY min(h.score) ASC, max(t.created_at) DESC, h.transcript_id DESC
       LIMIT ${limit} OFFSET ${offset}`;
  },

  matches(terms: string[], transcriptIds: string[]): SQL {
    const match = toFtsQuery(terms);
    // Rank first, then build snippets for the kept rows only: snippet() is the costly part.
    return sql`
      WITH hits AS (
        SELECT t.id AS transcript_id, NULL AS position, NULL AS fts_rowid, t.title AS body, 0 AS kind, bm25(transcripts_fts) AS score
          FROM transcripts_fts JOIN transcripts t ON t.rowid = transcripts_fts.rowid
         WHERE transcripts_fts MATCH ${match} AND t.id IN (${idList(transcriptIds)})
        UNION ALL
        SELECT m.transcript_id, m.position, m.rowid, m.content, 1, bm25(transcript_messages_fts)
          FROM transcript_messages_fts JOIN transcript_messages m ON m.rowid = transcript_messages_fts.rowid
         WHERE transcript_messages_fts MATCH ${match} AND m.transcript_id IN (${idList(transcriptIds)})
      ),
      ranked AS (
        SELECT *, row_number() OVER (PARTITION BY transcript_id ORDER BY kind, score, position) AS n FROM hits
      )
      SELECT transcript_id, position, body,
             CASE WHEN kind = 0 THEN body ELSE (
               SELECT snippet(transcript_messages_fts, 0, '', '', '…', 16) FROM transcript_messages_fts
                WHERE transcript_messages_fts MATCH ${match} AND transcript_messages_fts.rowid = ranked.fts_rowid
             ) END AS snippet
        FROM ranked WHERE n <= ${maxMatchesPerTranscript}
       ORDER BY transcript_id, n`;
  },
};

// Postgres. The to_tsvector expressions must match the GIN indexes' exactly to use them
// (exported for the test that checks the planner can).
export const transcriptMessageVector = sql`to_tsvector('simple', ${searchable(sql`m.content`)})`;
export const transcriptTitleVector = sql`to_tsvector('simple', coalesce(t.title, ''))`;

const postgres = {
  page(terms: string[], userId: string, limit: number, offset: number): SQL {
    const tsq = sql`to_tsquery('simple', ${toTsQuery(terms)})`;
    return sql`
      WITH hits AS (
        SELECT t.id AS transcript_id, ts_rank(${transcriptTitleVector}, ${tsq}) * ${titleBoost} AS score
          FROM transcripts t
         WHERE t.user_id = ${userId} AND ${transcriptTitleVector} @@ ${tsq}
        UNION ALL
        SELECT t.id, ts_rank(${transcriptMessageVector}, ${tsq})
          FROM transcript_messages m JOIN transcripts t ON t.id = m.transcript_id
         WHERE t.user_id = ${userId} AND ${transcriptMessageVector} @@ ${tsq}
      )
      SELECT h.transcript_id FROM hits h JOIN transcripts t ON t.id = h.transcript_id
       GROUP BY h.transcript_id, t.created_at
       ORDER BY max(h.score) DESC, t.created_at DESC, h.transcript_id DESC
       LIMIT ${limit} OFFSET ${offset}`;
  },

  matches(terms: string[], transcriptIds: string[]): SQL {
    const tsq = sql`to_tsquery('simple', ${toTsQuery(terms)})`;
    // ts_headline re-parses the whole text: run it only on the rows kept.
    return sql`
      WITH hits AS (
        SELECT t.id AS transcript_id, NULL::integer AS position, t.title AS body, 0 AS kind, ts_rank(${transcriptTitleVector}, ${tsq}) AS score
          FROM transcripts t
         WHERE t.id IN (${idList(transcriptIds)}) AND ${transcriptTitleVector} @@ ${tsq}
        UNION ALL
        SELECT m.transcript_id, m.position, m.content, 1, ts_rank(${transcriptMessageVector}, ${tsq})
          FROM transcript_messages m
         WHERE m.transcript_id IN (${idList(transcriptIds)}) AND ${transcriptMessageVector} @@ ${tsq}
      ),
      ranked AS (
        SELECT *, row_number() OVER (PARTITION BY transcript_id ORDER BY kind, score DESC, position) AS n FROM hits
      )
      SELECT transcript_id, position, body,
             CASE WHEN kind = 0 THEN body ELSE ${headline(sql`body`, tsq)} END AS snippet
        FROM ranked WHERE n <= ${maxMatchesPerTranscript}
       ORDER BY transcript_id, n`;
  },
};
