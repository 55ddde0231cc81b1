PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_message_attachments` (
	`message_id` text NOT NULL,
	`file_id` text NOT NULL,
	`position` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`message_id`, `file_id`),
	FOREIGN KEY (`message_id`) REFERENCES `messages`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`file_id`) REFERENCES `files`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
INSERT INTO `__new_message_attachments`("message_id", "file_id", "position") SELECT "message_id", "file_id", "position" FROM `message_attachments`;--> statement-breakpoint
DROP TABLE `message_attachments`;--> statement-breakpoint
ALTER TABLE `__new_message_attachments` RENAME TO `message_attachments`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `message_attachments_file_idx` ON `message_attachments` (`file_id`);