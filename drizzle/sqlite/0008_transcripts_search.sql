-- Full-text search over transcripts (src/modules/transcripts/search.ts), as 0002_fulltext_search
-- does it for chats: external-content FTS5 tables keyed by the implicit rowid, kept in step by
-- triggers (an external-content 'delete' must be given the exact old text, hence old.*).
-- A transcript's messages never change once written; its title may (PATCH).
CREATE VIRTUAL TABLE IF NOT EXISTS `transcript_messages_fts` USING fts5(
	content,
	content='transcript_messages',
	content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2',
	prefix='2 3'
);
--> statement-breakpoint
CREATE VIRTUAL TABLE IF NOT EXISTS `transcripts_fts` USING fts5(
	title,
	content='transcripts',
	content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2',
	prefix='2 3'
);
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcript_messages_fts_after_insert` AFTER INSERT ON `transcript_messages` BEGIN
	INSERT INTO `transcript_messages_fts`(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcript_messages_fts_after_delete` AFTER DELETE ON `transcript_messages` BEGIN
	INSERT INTO `transcript_messages_fts`(`transcript_messages_fts`, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcript_messages_fts_after_update` AFTER UPDATE OF content ON `transcript_messages` BEGIN
	INSERT INTO `transcript_messages_fts`(`transcript_messages_fts`, rowid, content) VALUES ('delete', old.rowid, old.content);
	INSERT INTO `transcript_messages_fts`(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcripts_fts_after_insert` AFTER INSERT ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(rowid, title) VALUES (new.rowid, new.title);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcripts_fts_after_delete` AFTER DELETE ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, title) VALUES ('delete', old.rowid, old.title);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `transcripts_fts_after_update` AFTER UPDATE OF title ON `transcripts` BEGIN
	INSERT INTO `transcripts_fts`(`transcripts_fts`, rowid, title) VALUES ('delete', old.rowid, old.title);
	INSERT INTO `transcripts_fts`(rowid, title) VALUES (new.rowid, new.title);
END;
