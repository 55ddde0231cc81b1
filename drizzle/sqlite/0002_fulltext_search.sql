-- Full-text search over message text and chat titles (src/modules/chats/search.ts).
-- External-content FTS5 tables: the text stays in messages/chats only; the index is keyed by
-- their implicit rowid (their primary keys are text, but they are not WITHOUT ROWID tables).
-- If a VACUUM ever renumbered those rowids, "INSERT INTO x_fts(x_fts) VALUES('rebuild')" re-syncs.
-- unicode61 folds case and diacritics; prefix indexes keep "deplo*"-style queries cheap.
CREATE VIRTUAL TABLE IF NOT EXISTS `messages_fts` USING fts5(
	content,
	content='messages',
	content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2',
	prefix='2 3'
);
--> statement-breakpoint
CREATE VIRTUAL TABLE IF NOT EXISTS `chats_fts` USING fts5(
	title,
	content='chats',
	content_rowid='rowid',
	tokenize='unicode61 remove_diacritics 2',
	prefix='2 3'
);
--> statement-breakpoint
-- Triggers keep the indexes in step. An external-content 'delete' must be given the exact old
-- text, hence old.* here; updates re-index only when the indexed column changes.
CREATE TRIGGER IF NOT EXISTS `messages_fts_after_insert` AFTER INSERT ON `messages` BEGIN
	INSERT INTO `messages_fts`(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `messages_fts_after_delete` AFTER DELETE ON `messages` BEGIN
	INSERT INTO `messages_fts`(`messages_fts`, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `messages_fts_after_update` AFTER UPDATE OF content ON `messages` BEGIN
	INSERT INTO `messages_fts`(`messages_fts`, rowid, content) VALUES ('delete', old.rowid, old.content);
	INSERT INTO `messages_fts`(rowid, content) VALUES (new.rowid, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `chats_fts_after_insert` AFTER INSERT ON `chats` BEGIN
	INSERT INTO `chats_fts`(rowid, title) VALUES (new.rowid, new.title);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `chats_fts_after_delete` AFTER DELETE ON `chats` BEGIN
	INSERT INTO `chats_fts`(`chats_fts`, rowid, title) VALUES ('delete', old.rowid, old.title);
END;
--> statement-breakpoint
CREATE TRIGGER IF NOT EXISTS `chats_fts_after_update` AFTER UPDATE OF title ON `chats` BEGIN
	INSERT INTO `chats_fts`(`chats_fts`, rowid, title) VALUES ('delete', old.rowid, old.title);
	INSERT INTO `chats_fts`(rowid, title) VALUES (new.rowid, new.title);
END;
--> statement-breakpoint
-- Index the rows that existed before this migration.
INSERT INTO `messages_fts`(`messages_fts`) VALUES ('rebuild');
--> statement-breakpoint
INSERT INTO `chats_fts`(`chats_fts`) VALUES ('rebuild');
