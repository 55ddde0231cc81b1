ALTER TABLE "chats" ADD COLUMN "tools" jsonb;--> statement-breakpoint
ALTER TABLE "chats" ADD COLUMN "tool_choice" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "tool_calls" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "tool_results" jsonb;