import { and, asc, count, desc, eq, isNotNull, sum } from 'drizzle-orm';
import type { Database } from '../../infra/db/index.ts';

/**
 * Counts over a user's chats, for GET /chats/categories and /chats/stats (the service caches
 * them; see caches.ts): each a few GROUP BY queries, read-only, outside any transaction.
 */
export function createChatAggregates(db: Database) {
  const { chats, messages } = db.tables;
  return {
    /** The user's categories with how many chats each has, most used first. */
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

    /** How many chats and active messages the user has, and the tokens of their replies by provider and model. */
    async stats(userId: string) {
      const [chatCount] = await db.run((q) => q.select({ n: count() }).from(chats).where(eq(chats.userId, userId)));
      const [messageCount] = await db.run((q) =>
        q
          .select({ n: count() })
          .from(messages)
          .innerJoin(chats, eq(chats.id, messages.chatId))
          .where(and(eq(chats.userId, userId), eq(messages.active, true))),
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
          .where(and(eq(chats.userId, userId), eq(messages.active, true), eq(messages.role, 'assistant'), isNotNull(messages.model)))
          .groupBy(messages.provider, messages.model)
          .orderBy(asc(messages.provider), asc(messages.model)),
      );
      return { chats: chatCount?.n ?? 0, messages: messageCount?.n ?? 0, byModel };
    },
  };
}
