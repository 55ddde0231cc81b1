import { and, asc, desc, eq, inArray, lt, type SQL, sql } from 'drizzle-orm';
import { containsPattern, likeEscaped } from '../../infra/db/contains.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type TranscriptRow = Database['tables']['transcripts']['$inferSelect'];
export type TranscriptMessageRow = Database['tables']['transcriptMessages']['$inferSelect'];
export type NewTranscript = Pick<TranscriptRow, 'id' | 'userId' | 'chatId' | 'branch' | 'title'>;
export type NewTranscriptMessage = Omit<TranscriptMessageRow, 'transcriptId'>;

// Rows per INSERT: SQLite binds at most 32766 values per statement, Postgres 65535.
const insertBatch = 500;

/** Data access for transcripts and their frozen messages. Every list scopes to its user. */
export function createTranscriptsRepository(db: Database) {
  const { transcripts, transcriptMessages, messageAttachments, files } = db.tables;

  return repository((tx: Tx | undefined) => ({
    /** Stores the transcript and its messages; run inside a transaction so that both or neither are kept. */
    async insert(transcript: NewTranscript, messages: NewTranscriptMessage[]): Promise<TranscriptRow> {
      const [row] = await db.run(
        (q) =>
          q
            .insert(transcripts)
            .values({ ...transcript, messageCount: messages.length })
            .returning(),
        tx,
      );
      for (let i = 0; i < messages.length; i += insertBatch) {
        const batch = messages.slice(i, i + insertBatch).map((message) => ({ ...message, transcriptId: transcript.id }));
        await db.run((q) => q.insert(transcriptMessages).values(batch), tx);
      }
      return row!;
    },

    async find(id: string): Promise<TranscriptRow | undefined> {
      const [row] = await db.run((q) => q.select().from(transcripts).where(eq(transcripts.id, id)).limit(1), tx);
      return row;
    },

    /** The frozen messages, in path order. */
    messages(transcriptId: string): Promise<TranscriptMessageRow[]> {
      return db.run(
        (q) =>
          q
            .select()
            .from(transcriptMessages)
            .where(eq(transcriptMessages.transcriptId, transcriptId))
            .orderBy(asc(transcriptMessages.position)),
        tx,
      );
    },

    /** Newest first; keyset pagination on the id (UUIDv7: creation order). `titleContains` matches any case. */
    list(userId: string, options: { limit: number; beforeId?: string; titleContains?: string }): Promise<TranscriptRow[]> {
      const conditions: SQL[] = [eq(transcripts.userId, userId)];
      if (options.beforeId !== undefined) conditions.push(lt(transcripts.id, options.beforeId));
      if (options.titleContains !== undefined)
        conditions.push(likeEscaped(sql`lower(${transcripts.title})`, containsPattern(options.titleContains.toLowerCase())));
      return db.run(
        (q) =>
          q
            .select()
            .from(transcripts)
            .where(and(...conditions))
            .orderBy(desc(transcripts.id))
            .limit(options.limit),
        tx,
      );
    },

    /** The transcripts with these ids (any order; missing ones left out). */
    byIds(ids: string[]): Promise<TranscriptRow[]> {
      if (ids.length === 0) return Promise.resolve([]);
      return db.run((q) => q.select().from(transcripts).where(inArray(transcripts.id, ids)), tx);
    },

    async update(id: string, patch: Partial<Pick<TranscriptRow, 'title' | 'notes' | 'tags'>>): Promise<TranscriptRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(transcripts)
            .set({ ...patch, updatedAt: new Date() })
            .where(eq(transcripts.id, id))
            .returning(),
        tx,
      );
      return row;
    },

    /** Deletes the transcript (its messages go with it); true when there was one. */
    async remove(id: string): Promise<boolean> {
      const rows = await db.run((q) => q.delete(transcripts).where(eq(transcripts.id, id)).returning({ id: transcripts.id }), tx);
      return rows.length > 0;
    },

    /** The names of the files attached to each of `messageIds`, in their order: message id → names (absent when none). */
    async attachmentNames(messageIds: string[]): Promise<Map<string, string[]>> {
      const names = new Map<string, string[]>();
      for (let i = 0; i < messageIds.length; i += insertBatch) {
        const rows = await db.run(
          (q) =>
            q
              .select({ messageId: messageAttachments.messageId, name: files.name })
              .from(messageAttachments)
              .innerJoin(files, eq(files.id, messageAttachments.fileId))
              .where(inArray(messageAttachments.messageId, messageIds.slice(i, i + insertBatch)))
              .orderBy(asc(messageAttachments.messageId), asc(messageAttachments.position), asc(files.id)),
          tx,
        );
        for (const row of rows) {
          const list = names.get(row.messageId);
          if (list) list.push(row.name);
          else names.set(row.messageId, [row.name]);
        }
      }
      return names;
    },
  }));
}

export type TranscriptsRepository = ReturnType<typeof createTranscriptsRepository>;
