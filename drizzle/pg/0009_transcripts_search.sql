-- Full-text search over transcripts (src/modules/transcripts/search.ts), as 0002_fulltext_search
-- and 0006_search_text_cap do it for chats: GIN expression indexes with the 'simple'
-- configuration, a message's first 100,000 characters only (to_tsvector fails past 1 MB of
-- lexemes). Queries repeat exactly these expressions to use them.
CREATE INDEX IF NOT EXISTS "transcript_messages_content_search_idx" ON "transcript_messages" USING gin (to_tsvector('simple', left(coalesce("content", ''), 100000)));
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "transcripts_title_search_idx" ON "transcripts" USING gin (to_tsvector('simple', coalesce("title", '')));
