-- Full-text search over message text and chat titles (src/modules/chats/search.ts).
-- GIN expression indexes: queries must repeat exactly these expressions to use them.
-- 'simple' folds case without stemming or stop words, so prefix queries ('deplo':*) behave
-- like SQLite's unicode61 tokenizer. Built inside the migration's transaction: on a large
-- existing table this blocks writes to it while the index builds.
CREATE INDEX IF NOT EXISTS "messages_content_search_idx" ON "messages" USING gin (to_tsvector('simple', coalesce("content", '')));
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "chats_title_search_idx" ON "chats" USING gin (to_tsvector('simple', coalesce("title", '')));
