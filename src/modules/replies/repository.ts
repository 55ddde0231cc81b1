import { and, eq, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { bound, slot } from '../../infra/db/placeholder.ts';
import { repository } from '../../infra/db/repository.ts';
import type { ToolCall } from '../../infra/llm/types.ts';

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
  /** The tools the model called, in order; null or absent when it called none. */
  toolCalls?: ToolCall[] | null;
};

/** How a reply nobody will finish is closed: its status, and its text when the stream buffer still had it. */
type Settle = {
  id: string;
  status: MessageRow['status'];
  finishReason: string;
  /** Absent: the text flushed so far stays. */
  content?: string;
  reasoning?: string | null;
};

/**
 * The engine's writes to an assistant message: created `streaming`, its text flushed in batches,
 * then finished once. Each is prepared once per process: a reply runs several per second.
 * Inside a transaction, use `repo.with(tx)`: the same methods, on the unit of work.
 *
 * Every write after the insert applies only while the message is still `streaming`: a reply is
 * settled once, by its producer, or (when the producer died) by whichever instance got there
 * first (sweeper or cancel). The loser's write changes nothing, and it can tell.
 */
export function createRepliesRepository(db: Database) {
  const { messages } = db.tables;
  const streamingOne = and(eq(messages.id, sql.placeholder('id')), eq(messages.status, 'streaming'));

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
  const flushText = db.prepare<{ id: string; content: string; reasoning: string | null; at: Date }, { id: string }[]>(
    'replies.flush',
    (q) =>
      q
        .update(messages)
        .set({ content: slot('content'), reasoning: slot('reasoning'), updatedAt: bound(messages.updatedAt, 'at') })
        .where(streamingOne)
        .returning({ id: messages.id }),
  );
  // A reply that called tools stores them too (a second statement: the usual reply leaves the column NULL, not JSON null).
  const finishQuery = (withTools: boolean) =>
    db.prepare<Finish & { at: Date }, MessageRow[]>(withTools ? 'replies.finishWithTools' : 'replies.finish', (q) =>
      q
        .update(messages)
        .set({
          ...(withTools ? { toolCalls: bound(messages.toolCalls, 'toolCalls') } : {}),
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
        .where(streamingOne)
        .returning(),
    );
  const finishOne = finishQuery(false);
  const finishWithTools = finishQuery(true);

  return repository((tx: Tx | undefined) => ({
    /**
     * Stores a new reply to `questionId` as `streaming`, selected and on the active path. Its sort
     * key places it inside its turn: `<turn's user message id>:<reply id>` (see the schema).
     */
    async insertStreaming(message: {
      id: string;
      chatId: string;
      questionId: string | null;
      /** The user message whose turn it is, when the reply answers tool results; absent: `questionId`. */
      turnId?: string;
      provider: string;
      model: string;
    }): Promise<MessageRow> {
      const { questionId, turnId, ...fields } = message;
      const turn = turnId ?? questionId;
      const sortKey = turn ? `${turn}:${message.id}` : message.id;
      const [row] = await insertStreaming({ ...fields, parentId: questionId, sortKey }, tx);
      return row!;
    },

    /**
     * The text so far, and the thinking so far (null when none) in its own column. False when the
     * message is no longer `streaming` (settled elsewhere) or no longer exists (its chat was deleted).
     */
    async flush(id: string, content: string, reasoning: string | null = null): Promise<boolean> {
      return (await flushText({ id, content, reasoning, at: new Date() }, tx)).length > 0;
    },

    /** Finishes a `streaming` message; undefined when it was not (any more) streaming, or is gone. */
    async finish(fields: Finish): Promise<MessageRow | undefined> {
      const [row] = await (fields.toolCalls?.length ? finishWithTools : finishOne)({ ...fields, at: new Date() }, tx);
      return row;
    },

    /** Settles a `streaming` message whose producer will not (died, or could not store it); undefined when it was not streaming. */
    async settle({ id, content, reasoning, ...fields }: Settle): Promise<MessageRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(messages)
            .set({ ...fields, ...(content === undefined ? {} : { content, reasoning: reasoning ?? null }), updatedAt: new Date() })
            .where(and(eq(messages.id, id), eq(messages.status, 'streaming')))
            .returning(),
        tx,
      );
      return row;
    },

    /** The message's status, or undefined when it does not exist. */
    async statusOf(id: string): Promise<MessageRow['status'] | undefined> {
      const [row] = await db.run((q) => q.select({ status: messages.status }).from(messages).where(eq(messages.id, id)), tx);
      return row?.status;
    },

    /** Ids of the messages still `streaming`; with `before`, only those not written to since then. */
    streaming(before?: Date): Promise<{ id: string }[]> {
      const streaming = eq(messages.status, 'streaming');
      return db.run(
        (q) =>
          q
            .select({ id: messages.id })
            .from(messages)
            .where(before ? and(streaming, lt(messages.updatedAt, before)) : streaming),
        tx,
      );
    },
  }));
}

export type RepliesRepository = ReturnType<typeof createRepliesRepository>;
