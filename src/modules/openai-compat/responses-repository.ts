// Stored Responses (table `responses`): each response a caller stored (store, the default), with
// what continues it, until it expires. Every read is its owner's and skips expired rows, so an
// expired response is gone the moment it expires, whenever housekeeping removes the row.
import { and, eq, gt, lte } from 'drizzle-orm';
import type { Database } from '../../infra/db/index.ts';
import type { StoredConversation } from './responses-request.ts';

/** A stored response as the routes use it: its Response object and the conversation it hands on. */
export type StoredResponse = { id: string; status: string; body: Record<string, unknown>; conversation: StoredConversation };

export type NewStoredResponse = StoredResponse & { userId: string; apiKeyId: string | null; model: string; expiresAt: Date };

/** Data access for stored responses (see the file's head); ids are `resp_…`, times Dates, documents parsed JSON. */
export function createResponsesRepository(db: Database) {
  const { responses } = db.tables;
  const owned = (userId: string, id: string) =>
    and(eq(responses.id, id), eq(responses.userId, userId), gt(responses.expiresAt, new Date()));

  return {
    /** Keeps a response; both JSON documents as text (see the table's comment: U+0000 and lone surrogates stay escaped). */
    async insert(row: NewStoredResponse): Promise<void> {
      await db.run((q) =>
        q.insert(responses).values({ ...row, body: JSON.stringify(row.body), conversation: JSON.stringify(row.conversation) }),
      );
    },

    /** The owner's unexpired response `id`; undefined for another user's, an expired one, or none. */
    async find(userId: string, id: string): Promise<StoredResponse | undefined> {
      const [row] = await db.run((q) =>
        q
          .select({ id: responses.id, status: responses.status, body: responses.body, conversation: responses.conversation })
          .from(responses)
          .where(owned(userId, id))
          .limit(1),
      );
      return row && { ...row, body: JSON.parse(row.body), conversation: JSON.parse(row.conversation) };
    },

    /** Removes the owner's unexpired response `id`; false when there was none to remove. */
    async remove(userId: string, id: string): Promise<boolean> {
      const removed = await db.run((q) => q.delete(responses).where(owned(userId, id)).returning({ id: responses.id }));
      return removed.length > 0;
    },

    /** Removes every expired response (housekeeping); how many. */
    async removeExpired(now = new Date()): Promise<number> {
      const removed = await db.run((q) => q.delete(responses).where(lte(responses.expiresAt, now)).returning({ id: responses.id }));
      return removed.length;
    },
  };
}

export type ResponsesRepository = ReturnType<typeof createResponsesRepository>;
