-- Search indexes only the first 100,000 characters of a message (src/modules/chats/search.ts,
-- `searchableChars`): to_tsvector fails with "string is too long for tsvector" once a text's
-- lexemes pass 1 MB, and that failure refused the whole row (a long reply was never stored).
-- 100,000 characters make at most about 600 KB of tsvector, whatever the text. The message itself
-- is stored whole; only what search sees is capped. Queries repeat this exact expression, so the
-- GIN index still serves them. Rebuilt inside the migration's transaction: on a large table this
-- blocks writes to messages while the index builds. SQLite's FTS5 has no such limit and is not capped.
DROP INDEX IF EXISTS "messages_content_search_idx";
--> statement-breakpoint
CREATE INDEX "messages_content_search_idx" ON "messages" USING gin (to_tsvector('simple', left(coalesce("content", ''), 100000)));
