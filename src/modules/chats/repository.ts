import { and, asc, count, desc, eq, gt, isNotNull, lt, or, type SQL, sql, sum } from 'drizzle-orm';
import { containsText } from '../../infra/db/contains.ts';
import type { Database } from '../../infra/db/index.ts';

export type ChatRow = Database['tables']['chats']['$inferSelect'];
export type MessageRow = Database['tables']['messages']['$inferSelect'];
export type NewMessage = Database['tables']['messages']['$inferInsert'];
export type ChatCursor = [pinned: boolean, updatedAt: number, id: string];


/** Data access for chats and their messages. Every query that takes a user id scopes to it. */
export function createChatsRepository(db: Database) {
  const { chats, messages } = db.tables;

  return {
    async insertChat(chat: Database['tables']['chats']['$inferInsert']): Promise<ChatRow> {
      const [row] = await db.run((q) => q.insert(chats).values(chat).returning());
      return row!;
    },

    async findChat(id: string): Promise<ChatRow | undefined> {
      const [row] = await db.run((q) => q.select().from(chats).where(eq(chats.id, id)).limit(1));
      return row;
    },

    /** Pinned first, then most recently active; keyset pagination on (pinned, updatedAt, id). */
    async listChats(userId: string, options: { limit: number; after?: ChatCursor; titleContains?: string; category?: string; archived: boolean }) {
      const conditions: SQL[] = [eq(chats.userId, userId), eq(chats.archived, options.archived)];
      if (options.category) conditions.push(eq(chats.category, options.category));
      if (options.titleContains) {
        conditions.push(containsText(sql`lower(${chats.title})`, options.titleContains.toLowerCase()));
      }
      if (options.after) {
        const [pinned, updatedAtMs, id] = options.after;
        const updatedAt = new Date(updatedAtMs);
        conditions.push(
          or(
            lt(chats.pinned, pinned),
            and(eq(chats.pinned, pinned), lt(chats.updatedAt, updatedAt)),
            and(eq(chats.pinned, pinned), eq(chats.updatedAt, updatedAt), lt(chats.id, id)),
          )!,
        );
      }
      return db.run((q) =>
        q
          .select()
          .from(chats)
          .where(and(...conditions))
          .orderBy(desc(chats.pinned), desc(chats.updatedAt), desc(chats.id))
          .limit(options.limit),
      );
    },

    async updateChat(id: string, patch: Partial<Database['tables']['chats']['$inferInsert']>): Promise<ChatRow | undefined> {
      const [row] = await db.run((q) =>
        q
          .update(chats)
          .set({ updatedAt: new Date(), ...patch })
          .where(eq(chats.id, id))
          .returning(),
      );
      return row;
    },

    async deleteChat(id: string): Promise<void> {
      await db.run((q) => q.delete(chats).where(eq(chats.id, id)));
    },

    async listFeatured(limit: number, afterId?: string) {
      const conditions: SQL[] = [eq(chats.featured, true)];
      if (afterId) conditions.push(lt(chats.id, afterId));
      return db.run((q) => q.select().from(chats).where(and(...conditions)).orderBy(desc(chats.id)).limit(limit));
    },

    async insertMessage(message: NewMessage): Promise<MessageRow> {
      const [row] = await db.run((q) => q.insert(messages).values(message).returning());
      return row!;
    },

    async findMessage(chatId: string, messageId: string): Promise<MessageRow | undefined> {
      const [row] = await db.run((q) => q.select().from(messages).where(and(eq(messages.id, messageId), eq(messages.chatId, chatId))).limit(1));
      return row;
    },

    async findMessageById(messageId: string): Promise<MessageRow | undefined> {
      const [row] = await db.run((q) => q.select().from(messages).where(eq(messages.id, messageId)).limit(1));
      return row;
    },

    /** Oldest first; ids are UUIDv7, so id order is creation order. */
    async listMessages(chatId: string, options: { limit?: number; afterId?: string; upToId?: string } = {}) {
      const conditions: SQL[] = [eq(messages.chatId, chatId)];
      if (options.afterId) conditions.push(gt(messages.id, options.afterId));
      if (options.upToId) conditions.push(sql`${messages.id} <= ${options.upToId}`);
      return db.run((q) => {
        const query = q.select().from(messages).where(and(...conditions)).orderBy(asc(messages.id));
        return options.limit ? query.limit(options.limit) : query;
      });
    },

    async updateMessage(id: string, patch: Partial<NewMessage>): Promise<MessageRow | undefined> {
      const [row] = await db.run((q) =>
        q
          .update(messages)
          .set({ ...patch, updatedAt: new Date() })
          .where(eq(messages.id, id))
          .returning(),
      );
      return row;
    },

    async streamingMessages(): Promise<MessageRow[]> {
      return db.run((q) => q.select().from(messages).where(eq(messages.status, 'streaming')));
    },

    async categories(userId: string) {
      return db.run((q) =>
        q
          .select({ category: chats.category, count: count() })
          .from(chats)
          .where(and(eq(chats.userId, userId), isNotNull(chats.category)))
          .groupBy(chats.category)
          .orderBy(desc(count()), asc(chats.category)),
      );
    },

    async stats(userId: string) {
      const [chatCount] = await db.run((q) => q.select({ n: count() }).from(chats).where(eq(chats.userId, userId)));
      const [messageCount] = await db.run((q) =>
        q.select({ n: count() }).from(messages).innerJoin(chats, eq(chats.id, messages.chatId)).where(eq(chats.userId, userId)),
      );
      const byModel = await db.run((q) =>
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
      );
      return { chats: chatCount?.n ?? 0, messages: messageCount?.n ?? 0, byModel };
    },
  };
}

export type ChatsRepository = ReturnType<typeof createChatsRepository>;
