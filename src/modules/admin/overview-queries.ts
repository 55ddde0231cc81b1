// The admin overview's figures: a handful of aggregate queries over the whole deployment, each
// an index range or one pass over a small table, on both dialects. They read other rooms' tables
// directly: counting across every user is the admin's view of the data, not a feature's.
import { type Column, count, countDistinct, desc, eq, gte, inArray, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../../infra/db/index.ts';

/** Aggregates come back as numbers on SQLite and as text (bigint, numeric) on Postgres. */
const num = (value: unknown): number => Number(value ?? 0);

export type UsageRow = { day: string; provider: string; model: string; requests: number; inputTokens: number; outputTokens: number };

export function createOverviewQueries(db: Database) {
  const { users, chats, messages, usageRecords, files } = db.tables;

  /** The UTC day (YYYY-MM-DD) of a timestamp column, in the dialect's words. */
  const dayOf = (column: Column): SQL<string> =>
    db.kind === 'sqlite'
      ? sql<string>`strftime('%Y-%m-%d', ${column} / 1000, 'unixepoch')`
      : sql<string>`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;
  const sumOf = (column: Column) => sql<string | number | null>`sum(${column})`;

  return {
    /** Users by role, tier and disabled: at most 3 × 3 × 2 rows. */
    usersByKind: () =>
      db.run((q) =>
        q
          .select({ role: users.role, tier: users.tier, disabled: users.disabled, count: count() })
          .from(users)
          .groupBy(users.role, users.tier, users.disabled),
      ),

    /** Users created per UTC day since `from` (a range of users_created_at_idx). */
    async newUsersByDay(from: Date): Promise<{ day: string; count: number }[]> {
      const day = dayOf(users.createdAt);
      const rows = await db.run((q) => q.select({ day, count: count() }).from(users).where(gte(users.createdAt, from)).groupBy(day));
      return rows.map((row) => ({ day: row.day, count: num(row.count) }));
    },

    async chatCounts(): Promise<{ total: number; featured: number }> {
      const [total] = await db.run((q) => q.select({ n: count() }).from(chats));
      // chats_featured_idx leads with the flag.
      const [featured] = await db.run((q) => q.select({ n: count() }).from(chats).where(eq(chats.featured, true)));
      return { total: num(total?.n), featured: num(featured?.n) };
    },

    async messageCounts(): Promise<{ total: number; streaming: number }> {
      const [total] = await db.run((q) => q.select({ n: count() }).from(messages));
      const [streaming] = await db.run((q) => q.select({ n: count() }).from(messages).where(eq(messages.status, 'streaming')));
      return { total: num(total?.n), streaming: num(streaming?.n) };
    },

    /** Usage per day, provider and model from `fromDay` on (a range of usage_records_day_idx). */
    async usageSince(fromDay: string): Promise<UsageRow[]> {
      const rows = await db.run((q) =>
        q
          .select({
            day: usageRecords.day,
            provider: usageRecords.provider,
            model: usageRecords.model,
            requests: sumOf(usageRecords.requests),
            inputTokens: sumOf(usageRecords.inputTokens),
            outputTokens: sumOf(usageRecords.outputTokens),
          })
          .from(usageRecords)
          .where(gte(usageRecords.day, fromDay))
          .groupBy(usageRecords.day, usageRecords.provider, usageRecords.model),
      );
      return rows.map((row) => ({
        ...row,
        requests: num(row.requests),
        inputTokens: num(row.inputTokens),
        outputTokens: num(row.outputTokens),
      }));
    },

    /** Users with any usage recorded from `fromDay` on. */
    async activeUsersSince(fromDay: string): Promise<number> {
      const [row] = await db.run((q) =>
        q
          .select({ n: countDistinct(usageRecords.userId) })
          .from(usageRecords)
          .where(gte(usageRecords.day, fromDay)),
      );
      return num(row?.n);
    },

    /** Bytes and files stored, in all and for the `top` users storing the most bytes. */
    async storage(top: number) {
      const [all] = await db.run((q) => q.select({ bytes: sumOf(files.size), files: count() }).from(files));
      const bytes = sumOf(files.size);
      const ranked = await db.run((q) =>
        q
          .select({ userId: files.userId, bytes, files: count() })
          .from(files)
          .groupBy(files.userId)
          .orderBy(desc(bytes), files.userId)
          .limit(top),
      );
      const ids = ranked.map((row) => row.userId);
      const emails = ids.length
        ? await db.run((q) => q.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, ids)))
        : [];
      const emailOf = new Map(emails.map((row) => [row.id, row.email]));
      return {
        bytes: num(all?.bytes),
        files: num(all?.files),
        topUsers: ranked.map((row) => ({
          userId: row.userId,
          email: emailOf.get(row.userId) ?? null,
          bytes: num(row.bytes),
          files: num(row.files),
        })),
      };
    },
  };
}

export type OverviewQueries = ReturnType<typeof createOverviewQueries>;
