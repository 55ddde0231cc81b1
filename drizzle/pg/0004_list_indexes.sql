DROP INDEX "chats_user_updated_idx";--> statement-breakpoint
DROP INDEX "messages_chat_created_idx";--> statement-breakpoint
DROP INDEX "chats_featured_idx";--> statement-breakpoint
CREATE INDEX "chats_user_list_idx" ON "chats" USING btree ("user_id","archived","pinned","updated_at","id");--> statement-breakpoint
CREATE INDEX "messages_chat_id_idx" ON "messages" USING btree ("chat_id","id");--> statement-breakpoint
CREATE INDEX "chats_featured_idx" ON "chats" USING btree ("featured","id");