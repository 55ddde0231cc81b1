import { eq, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { bound, slot } from '../../infra/db/placeholder.ts';
import { repository } from '../../infra/db/repository.ts';

export type MessageRow = Database['tables']['messages']['$inferSelect'];

type Finish = {
  id: string;
  content: string;
  /** The model's thinking, apart from `content`; null when it streamed none. */
  reasoning: string | null;
  status: MessageRow['status'];
  provider: string;
  model: string;
  finishReason: string;
  inputTokens: number;
  outputTokens: number;
};

/**
 * The engine's writes to an assistant message: created `streaming`, its text flushed in batches,
 * then finished once. Each is prepared once per process: a reply runs several per second.
 * Inside a transaction, use `repo.with(tx)`: the same methods, on the unit of work.
 */
export function createRepliesRepository(db: Database) {
  const { messages } = db.tables;

  type NewReply = { id: string; chatId: string; parentId: string | null; sortKey: string; provider: string; model: string };
  const insertStreaming = db.prepare<NewReply, MessageRow[]>('replies.insert', (q) =>
    q
      .insert(messages)
      .values({
        id: sql.placeholder('id'),
        chatId: sql.placeholder('chatId'),
        parentId: sql.placeholder('parentId'),
        sortKey: sql.placeholder('sortKey'),
        role: 'assistant',
        content: '',
        status: 'streaming',
        provider: sql.placeholder('provider'),
        model: sql.placeholder('model'),
      })
      .returning(),
  );
  const flushText = db.prepare<{ id: string; content: string; reasoning: string | null; at: Date }, unknown>('replies.flush', (q) =>
    q
      .update(messages)
      .set({ content: slot('content'), reasoning: slot('reasoning'), updatedAt: bound(messages.updatedAt, 'at') })
      .where(eq(messages.id, sql.placeholder('id'))),
  );
  const finishOne = db.prepare<Finish & { at: Date }, MessageRow[]>('replies.finish', (q) =>
    q
      .update(messages)
      .set({
        content: slot('content'),
        reasoning: slot('reasoning'),
        status: slot('status'),
        provider: slot('provider'),
        model: slot('model'),
        finishReason: slot('finishReason'),
        inputTokens: slot('inputTokens'),
        outputTokens: slot('outputTokens'),
        updatedAt: bound(messages.updatedAt, 'at'),
      })
      .where(eq(messages.id, sql.placeholder('id')))
      .returning(),
  );

  return repository((tx: Tx | undefined) => ({
    /**
     * Stores a new reply to `questionId` as `streaming`, selected and on the active path. Its sort
     * key places it inside its question's turn: `<question id>:<reply id>` (see the schema).
     */
    async insertStreaming(message: {
      id: string;
      chatId: string;
      questionId: string | null;
      provider: string;
      model: string;
    }): Promise<MessageRow> {
      const { questionId, ...fields } = message;
      const sortKey = questionId ? `${questionId}:${message.id}` : message.id;
      const [row] = await insertStreaming({ ...fields, parentId: questionId, sortKey }, tx);
      return row!;
    },

    /** The text so far, and the thinking so far (null when none) in its own column. */
    async flush(id: string, content: string, reasoning: string | null = null): Promise<void> {
      await flushText({ id, content, reasoning, at: new Date() }, tx);
    },

    async finish(fields: Finish): Promise<MessageRow | undefined> {
      const [row] = await finishOne({ ...fields, at: new Date() }, tx);
      return row;
    },

    /** Start-up only: replies some instance was writing when it stopped. */
    streaming(): Promise<MessageRow[]> {
      return db.run((q) => q.select().from(messages).where(eq(messages.status, 'streaming')), tx);
    },

    async markInterrupted(id: string): Promise<void> {
      await db.run(
        (q) =>
          q.update(messages).set({ status: 'interrupted', finishReason: 'interrupted', updatedAt: new Date() }).where(eq(messages.id, id)),
        tx,
      );
    },
  }));
}

export type RepliesRepository = ReturnType<typeof createRepliesRepository>;
