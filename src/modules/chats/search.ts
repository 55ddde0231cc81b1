// Full-text search over a user's chat titles and message text: FTS5 on SQLite, tsvector + GIN
// on Postgres (migrations 0002_fulltext_search). The two engines share no SQL for this, so this
// file writes raw, dialect-specific SQL (as transcripts/search.ts does on its own tables; what
// both share, from the user's words to the snippets, is in infra/db/fulltext.ts).
import { type SQL, sql } from 'drizzle-orm';
import { headline, idList, searchable, searchTerms, toFtsQuery, toTsQuery, wholeSnippet } from '../../infra/db/fulltext.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

// The shared pieces (terms, queries, cursors, snippets) live in infra/db/fulltext.ts; named here too for this search's callers.
export {
  decodeSearchCursor,
  encodeSearchCursor,
  searchableChars,
  searchTerms,
  toFtsQuery,
  toTsQuery,
  wholeSnippet,
} from '../../infra/db/fulltext.ts';

export type SearchMatch = { messageId: string | null; snippet: string };
export type SearchHit = { chatId: string; matches: SearchMatch[] };

const maxMatchesPerChat = 3;
// Only a guard: the route caps limit at 100 and may ask for one more to detect a next page.
const maxLimit = 200;
// Title hits count double: a chat named after the words is usually the one wanted.
const titleBoost = sql.raw('2');

type PageRow = { chat_id: string };
type MatchRow = { chat_id: string; message_id: string | null; body: string | null; snippet: string | null };

/** Full-text search over chats; `search.with(tx)` runs it inside a unit of work. */
export function createChatSearch(db: Database) {
  // The query builder cannot express FTS: this file writes SQL per dialect (picked once, by
  // db.kind) and runs it through `db.raw`, the one door for dialect-specific statements.
  const dialect = db.kind === 'sqlite' ? sqlite : postgres;

  return repository((tx: Tx | undefined) => ({
    /** The caller's chats (archived too) matching every word, best first, up to 3 matches each. */
    async search(userId: string, text: string, options: { limit: number; offset?: number }): Promise<SearchHit[]> {
      const terms = searchTerms(text);
      if (terms.length === 0) return [];
      const limit = Math.min(Math.max(Math.trunc(options.limit) || 1, 1), maxLimit);
      const offset = Math.max(Math.trunc(options.offset ?? 0) || 0, 0);

      const page = await db.raw<PageRow>(dialect.page(terms, userId, limit, offset), tx);
      if (page.length === 0) return [];
      const ids = page.map((row) => row.chat_id);
      const rows = await db.raw<MatchRow>(dialect.matches(terms, ids), tx);

      const byChat = new Map<string, SearchMatch[]>(ids.map((id) => [id, []]));
      for (const row of rows) byChat.get(row.chat_id)?.push({ messageId: row.message_id, snippet: wholeSnippet(row.body, row.snippet) });
      return ids.map((chatId) => ({ chatId, matches: byChat.get(chatId)! }));
    },
  }));
}

export type ChatSearch = ReturnType<typeof createChatSearch>;

// SQLite. bm25() is lower-is-better. The FTS tables index every user's rows; the join on
// chats.user_id scopes them; only messages on a chat's active path are searched. Rows join back through the implicit rowid (external content).
const sqlite = {
  page(terms: string[], userId: string, limit: number, offset: number): SQL {
    const match = toFtsQuery(terms);
    return sql`
      WITH hits AS (
        SELECT c.id AS chat_id, bm25(chats_fts) * ${titleBoost} AS score
          FROM chats_fts JOIN chats c ON c.rowid = chats_fts.rowid
         WHERE chats_fts MATCH ${match} AND c.user_id = ${userId}
        UNION ALL
        SELECT c.id, bm25(messages_fts)
          FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid JOIN chats c ON c.id = m.chat_id
         WHERE messages_fts MATCH ${match} AND c.user_id = ${userId} AND m.active
      )
      SELECT h.chat_id FROM hits h JOIN chats c ON c.id = h.chat_id
       GROUP BY h.chat_id
       ORDER BY min(h.score) ASC, max(c.updated_at) DESC, h.chat_id DESC
       LIMIT ${limit} OFFSET ${offset}`;
  },

  matches(terms: string[], chatIds: string[]): SQL {
    const match = toFtsQuery(terms);
    // Rank first, then build snippets for the kept rows only: snippet() is the costly part.
    return sql`
      WITH hits AS (
        SELECT c.id AS chat_id, NULL AS message_id, NULL AS fts_rowid, c.title AS body, 0 AS kind, bm25(chats_fts) AS score
          FROM chats_fts JOIN chats c ON c.rowid = chats_fts.rowid
         WHERE chats_fts MATCH ${match} AND c.id IN (${idList(chatIds)})
        UNION ALL
        SELECT m.chat_id, m.id, m.rowid, m.content, 1, bm25(messages_fts)
          FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
         WHERE messages_fts MATCH ${match} AND m.chat_id IN (${idList(chatIds)}) AND m.active
      ),
      ranked AS (
        SELECT *, row_number() OVER (PARTITION BY chat_id ORDER BY kind, score, message_id DESC) AS n FROM hits
      )
      SELECT chat_id, message_id, body,
             CASE WHEN kind = 0 THEN body ELSE (
               SELECT snippet(messages_fts, 0, '', '', '…', 16) FROM messages_fts
                WHERE messages_fts MATCH ${match} AND messages_fts.rowid = ranked.fts_rowid
             ) END AS snippet
        FROM ranked WHERE n <= ${maxMatchesPerChat}
       ORDER BY chat_id, n`;
  },
};

// Postgres. The to_tsvector expressions must match the GIN indexes' exactly to use them
// (exported for the test that checks the planner can); the cap is a literal, as in the index.
export const messageVector = sql`to_tsvector('simple', ${searchable(sql`m.content`)})`;
export const titleVector = sql`to_tsvector('simple', coalesce(c.title, ''))`;

const postgres = {
  page(terms: string[], userId: string, limit: number, offset: number): SQL {
    const tsq = sql`to_tsquery('simple', ${toTsQuery(terms)})`;
    return sql`
      WITH hits AS (
        SELECT c.id AS chat_id, ts_rank(${titleVector}, ${tsq}) * ${titleBoost} AS score
          FROM chats c
         WHERE c.user_id = ${userId} AND ${titleVector} @@ ${tsq}
        UNION ALL
        SELECT c.id, ts_rank(${messageVector}, ${tsq})
          FROM messages m JOIN chats c ON c.id = m.chat_id
         WHERE c.user_id = ${userId} AND m.active AND ${messageVector} @@ ${tsq}
      )
      SELECT h.chat_id FROM hits h JOIN chats c ON c.id = h.chat_id
       GROUP BY h.chat_id, c.updated_at
       ORDER BY max(h.score) DESC, c.updated_at DESC, h.chat_id DESC
       LIMIT ${limit} OFFSET ${offset}`;
  },

  matches(terms: string[], chatIds: string[]): SQL {
    const tsq = sql`to_tsquery('simple', ${toTsQuery(terms)})`;
    // ts_headline re-parses the whole text: run it only on the rows kept.
    return sql`
      WITH hits AS (
        SELECT c.id AS chat_id, NULL::text AS message_id, c.title AS body, 0 AS kind, ts_rank(${titleVector}, ${tsq}) AS score
          FROM chats c
         WHERE c.id IN (${idList(chatIds)}) AND ${titleVector} @@ ${tsq}
        UNION ALL
        SELECT m.chat_id, m.id, m.content, 1, ts_rank(${messageVector}, ${tsq})
          FROM messages m
         WHERE m.chat_id IN (${idList(chatIds)}) AND m.active AND ${messageVector} @@ ${tsq}
      ),
      ranked AS (
        SELECT *, row_number() OVER (PARTITION BY chat_id ORDER BY kind, score DESC, message_id DESC) AS n FROM hits
      )
      SELECT chat_id, message_id, body,
             CASE WHEN kind = 0 THEN body ELSE ${headline(sql`body`, tsq)} END AS snippet
        FROM ranked WHERE n <= ${maxMatchesPerChat}
       ORDER BY chat_id, n`;
  },
};
