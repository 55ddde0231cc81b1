DROP INDEX `chats_user_updated_idx`;--> statement-breakpoint
DROP INDEX `chats_featured_idx`;--> statement-breakpoint
CREATE INDEX `chats_user_list_idx` ON `chats` (`user_id`,`archived`,`pinned`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `chats_featured_idx` ON `chats` (`featured`,`id`);--> statement-breakpoint
DROP INDEX `messages_chat_created_idx`;--> statement-breakpoint
CREATE INDEX `messages_chat_id_idx` ON `messages` (`chat_id`,`id`);