import { and, asc, count, desc, eq, gt, isNotNull, lt, lte, or, type SQL, sql, sum } from 'drizzle-orm';
import { containsPattern, likeEscaped } from '../../infra/db/contains.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { bound } from '../../infra/db/placeholder.ts';
import { repository } from '../../infra/db/repository.ts';
import type { PreparedQuery } from '../../infra/db/types.ts';

export type ChatRow = Database['tables']['chats']['$inferSelect'];
export type MessageRow = Database['tables']['messages']['$inferSelect'];
export type NewMessage = Database['tables']['messages']['$inferInsert'];
export type ChatCursor = [pinned: boolean, updatedAt: number, id: string];

type ListChatsValues = {
  userId: string;
  archived: boolean;
  limit: number;
  category?: string;
  pattern?: string;
  pinned?: boolean;
  updatedAt?: Date;
  id?: string;
};
type ListMessagesValues = { chatId: string; limit?: number; afterId?: string; upToId?: string };

/**
 * Data access for chats and their messages. Every query that takes a user id scopes to it.
 * The queries of hot routes are prepared once per process (`db.prepare`); a query whose
 * filters vary is prepared once per combination of filters, so no request builds SQL text.
 * Inside a transaction, use `chats.with(tx)`: the same methods, on the unit of work.
 */
export function createChatsRepository(db: Database) {
  const { chats, messages } = db.tables;

  const chatById = db.prepare<{ id: string }, ChatRow[]>('chats.byId', (q) =>
    q
      .select()
      .from(chats)
      .where(eq(chats.id, sql.placeholder('id')))
      .limit(1),
  );
  const messageInChat = db.prepare<{ id: string; chatId: string }, MessageRow[]>('chats.messageInChat', (q) =>
    q
      .select()
      .from(messages)
      .where(and(eq(messages.id, sql.placeholder('id')), eq(messages.chatId, sql.placeholder('chatId'))))
      .limit(1),
  );
  const messageById = db.prepare<{ id: string }, MessageRow[]>('chats.messageById', (q) =>
    q
      .select()
      .from(messages)
      .where(eq(messages.id, sql.placeholder('id')))
      .limit(1),
  );
  const insertOne = db.prepare<
    Required<Pick<NewMessage, 'id' | 'chatId' | 'role' | 'content' | 'status' | 'provider' | 'model' | 'attachments'>>,
    MessageRow[]
  >('chats.insertMessage', (q) =>
    q
      .insert(messages)
      .values({
        id: sql.placeholder('id'),
        chatId: sql.placeholder('chatId'),
        role: sql.placeholder('role'),
        content: sql.placeholder('content'),
        status: sql.placeholder('status'),
        provider: sql.placeholder('provider'),
        model: sql.placeholder('model'),
        attachments: sql.placeholder('attachments'),
      })
      .returning(),
  );
  // A reply bumps its chat to the top of the list, and names it when it has no title yet.
  const touch = db.prepare<{ id: string; at: Date; title: string | null }, ChatRow[]>('chats.touch', (q) =>
    q
      .update(chats)
      .set({ updatedAt: bound(chats.updatedAt, 'at'), title: sql`coalesce(${chats.title}, ${sql.placeholder('title')})` })
      .where(eq(chats.id, sql.placeholder('id')))
      .returning(),
  );

  const listChatsVariants = new Map<string, PreparedQuery<ListChatsValues, ChatRow[]>>();
  const listChatsQuery = (variant: { after: boolean; category: boolean; title: boolean }) => {
    const key = `${+variant.after}${+variant.category}${+variant.title}`;
    let query = listChatsVariants.get(key);
    if (!query) {
      query = db.prepare<ListChatsValues, ChatRow[]>(`chats.list.${key}`, (q) => {
        const conditions: SQL[] = [eq(chats.userId, sql.placeholder('userId')), eq(chats.archived, bound(chats.archived, 'archived'))];
        if (variant.category) conditions.push(eq(chats.category, sql.placeholder('category')));
        if (variant.title) conditions.push(likeEscaped(sql`lower(${chats.title})`, sql.placeholder('pattern')));
        if (variant.after) {
          const pinned = bound(chats.pinned, 'pinned');
          const updatedAt = bound(chats.updatedAt, 'updatedAt');
          conditions.push(
            or(
              lt(chats.pinned, pinned),
              and(eq(chats.pinned, pinned), lt(chats.updatedAt, updatedAt)),
              and(eq(chats.pinned, pinned), eq(chats.updatedAt, updatedAt), lt(chats.id, sql.placeholder('id'))),
            )!,
          );
        }
        return q
          .select()
          .from(chats)
          .where(and(...conditions))
          .orderBy(desc(chats.pinned), desc(chats.updatedAt), desc(chats.id))
          .limit(sql.placeholder('limit'));
      });
      listChatsVariants.set(key, query);
    }
    return query;
  };

  // Oldest first; ids are UUIDv7, so id order is creation order.
  const pageOfMessages = db.prepare<ListMessagesValues, MessageRow[]>('chats.messages.first', (q) =>
    q
      .select()
      .from(messages)
      .where(eq(messages.chatId, sql.placeholder('chatId')))
      .orderBy(asc(messages.id))
      .limit(sql.placeholder('limit')),
  );
  const pageOfMessagesAfter = db.prepare<ListMessagesValues, MessageRow[]>('chats.messages.after', (q) =>
    q
      .select()
      .from(messages)
      .where(and(eq(messages.chatId, sql.placeholder('chatId')), gt(messages.id, sql.placeholder('afterId'))))
      .orderBy(asc(messages.id))
      .limit(sql.placeholder('limit')),
  );
  const allMessages = db.prepare<ListMessagesValues, MessageRow[]>('chats.messages.all', (q) =>
    q
      .select()
      .from(messages)
      .where(eq(messages.chatId, sql.placeholder('chatId')))
      .orderBy(asc(messages.id)),
  );
  const messagesUpTo = db.prepare<ListMessagesValues, MessageRow[]>('chats.messages.upTo', (q) =>
    q
      .select()
      .from(messages)
      .where(and(eq(messages.chatId, sql.placeholder('chatId')), lte(messages.id, sql.placeholder('upToId'))))
      .orderBy(asc(messages.id)),
  );

  return repository((tx: Tx | undefined) => ({
    async insertChat(chat: Database['tables']['chats']['$inferInsert']): Promise<ChatRow> {
      const [row] = await db.run((q) => q.insert(chats).values(chat).returning(), tx);
      return row!;
    },

    async findChat(id: string): Promise<ChatRow | undefined> {
      const [row] = await chatById({ id }, tx);
      return row;
    },

    /** Pinned first, then most recently active; keyset pagination on (pinned, updatedAt, id). */
    async listChats(
      userId: string,
      options: { limit: number; after?: ChatCursor; titleContains?: string; category?: string; archived: boolean },
    ) {
      const query = listChatsQuery({ after: !!options.after, category: !!options.category, title: !!options.titleContains });
      const [pinned, updatedAtMs, id] = options.after ?? [];
      return query(
        {
          userId,
          archived: options.archived,
          limit: options.limit,
          category: options.category,
          pattern: options.titleContains ? containsPattern(options.titleContains.toLowerCase()) : undefined,
          pinned,
          updatedAt: updatedAtMs === undefined ? undefined : new Date(updatedAtMs),
          id,
        },
        tx,
      );
    },

    /** Marks the chat active now (top of the list) and gives it `title` if it has none. */
    async touchChat(id: string, title: string | null): Promise<ChatRow | undefined> {
      const [row] = await touch({ id, at: new Date(), title }, tx);
      return row;
    },

    async updateChat(id: string, patch: Partial<Database['tables']['chats']['$inferInsert']>): Promise<ChatRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(chats)
            .set({ updatedAt: new Date(), ...patch })
            .where(eq(chats.id, id))
            .returning(),
        tx,
      );
      return row;
    },

    async deleteChat(id: string): Promise<void> {
      await db.run((q) => q.delete(chats).where(eq(chats.id, id)), tx);
    },

    async listFeatured(limit: number, afterId?: string) {
      const conditions: SQL[] = [eq(chats.featured, true)];
      if (afterId) conditions.push(lt(chats.id, afterId));
      return db.run(
        (q) =>
          q
            .select()
            .from(chats)
            .where(and(...conditions))
            .orderBy(desc(chats.id))
            .limit(limit),
        tx,
      );
    },

    async insertMessage(message: Pick<NewMessage, 'id' | 'chatId' | 'role'> & Partial<NewMessage>): Promise<MessageRow> {
      const [row] = await insertOne(
        {
          content: '',
          status: 'complete',
          provider: null,
          model: null,
          attachments: [],
          ...message,
        } as Parameters<typeof insertOne>[0],
        tx,
      );
      return row!;
    },

    async findMessage(chatId: string, messageId: string): Promise<MessageRow | undefined> {
      const [row] = await messageInChat({ id: messageId, chatId }, tx);
      return row;
    },

    async findMessageById(messageId: string): Promise<MessageRow | undefined> {
      const [row] = await messageById({ id: messageId }, tx);
      return row;
    },

    /** Oldest first: a page (`limit`, after `afterId`), everything up to `upToId`, or all. */
    async listMessages(chatId: string, options: { limit?: number; afterId?: string; upToId?: string } = {}) {
      if (options.upToId) return messagesUpTo({ chatId, upToId: options.upToId }, tx);
      if (options.limit === undefined) return allMessages({ chatId }, tx);
      return options.afterId
        ? pageOfMessagesAfter({ chatId, limit: options.limit, afterId: options.afterId }, tx)
        : pageOfMessages({ chatId, limit: options.limit }, tx);
    },

    async categories(userId: string) {
      return db.run(
        (q) =>
          q
            .select({ category: chats.category, count: count() })
            .from(chats)
            .where(and(eq(chats.userId, userId), isNotNull(chats.category)))
            .groupBy(chats.category)
            .orderBy(desc(count()), asc(chats.category)),
        tx,
      );
    },

    async stats(userId: string) {
      const [chatCount] = await db.run((q) => q.select({ n: count() }).from(chats).where(eq(chats.userId, userId)), tx);
      const [messageCount] = await db.run(
        (q) => q.select({ n: count() }).from(messages).innerJoin(chats, eq(chats.id, messages.chatId)).where(eq(chats.userId, userId)),
        tx,
      );
      const byModel = await db.run(
        (q) =>
          q
            .select({
              provider: messages.provider,
              model: messages.model,
              messages: count(),
              inputTokens: sum(messages.inputTokens),
              outputTokens: sum(messages.outputTokens),
            })
            .from(messages)
            .innerJoin(chats, eq(chats.id, messages.chatId))
            .where(and(eq(chats.userId, userId), eq(messages.role, 'assistant'), isNotNull(messages.model)))
            .groupBy(messages.provider, messages.model)
            .orderBy(asc(messages.provider), asc(messages.model)),
        tx,
      );
      return { chats: chatCount?.n ?? 0, messages: messageCount?.n ?? 0, byModel };
    },
  }));
}

export type ChatsRepository = ReturnType<typeof createChatsRepository>;
