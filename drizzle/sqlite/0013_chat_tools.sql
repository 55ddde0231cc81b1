ALTER TABLE `chats` ADD `tools` text;--> statement-breakpoint
ALTER TABLE `chats` ADD `tool_choice` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `tool_calls` text;--> statement-breakpoint
ALTER TABLE `messages` ADD `tool_results` text;