ALTER TABLE `messages` ADD `parent_id` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `selected` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `active` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `sort_key` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `reasoning` text;--> statement-breakpoint
CREATE INDEX `messages_active_path_idx` ON `messages` (`chat_id`,`active`,`sort_key`);--> statement-breakpoint
-- Chats written before the tree become one path: each message's parent is the nearest user message before it.
UPDATE messages SET parent_id = (SELECT p.id FROM messages p WHERE p.chat_id = messages.chat_id AND p.role = 'user' AND p.id < messages.id ORDER BY p.id DESC LIMIT 1);--> statement-breakpoint
UPDATE messages SET sort_key = CASE WHEN role = 'user' OR parent_id IS NULL THEN id ELSE parent_id || ':' || id END;--> statement-breakpoint
-- Of several replies to one user message (an earlier regenerate), the last one stays on the path.
UPDATE messages SET selected = false WHERE role = 'assistant' AND EXISTS (SELECT 1 FROM messages s WHERE s.chat_id = messages.chat_id AND s.parent_id = messages.parent_id AND s.role = 'assistant' AND s.id > messages.id);--> statement-breakpoint
UPDATE messages SET active = selected;
