CREATE TABLE `responses` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`api_key_id` text,
	`model` text NOT NULL,
	`status` text NOT NULL,
	`conversation` text NOT NULL,
	`body` text NOT NULL,
	`created_at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `responses_user_idx` ON `responses` (`user_id`);--> statement-breakpoint
CREATE INDEX `responses_expires_at_idx` ON `responses` (`expires_at`);