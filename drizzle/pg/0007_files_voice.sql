ALTER TABLE "message_attachments" DROP CONSTRAINT "message_attachments_file_id_files_id_fk";
--> statement-breakpoint
ALTER TABLE "message_attachments" ADD CONSTRAINT "message_attachments_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE no action ON UPDATE no action;