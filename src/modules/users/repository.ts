import { and, asc, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { containsText } from '../../infra/db/contains.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type UserRow = Database['tables']['users']['$inferSelect'];
export type NewUser = Database['tables']['users']['$inferInsert'];
/** A day's requests and tokens for one provider and model. */
export type UsageRow = { day: string; provider: string; model: string; requests: number; inputTokens: number; outputTokens: number };

/**
 * Data access for the users table and the usage records that belong to a user. Inside a
 * transaction, use `users.with(tx)`: the same methods, on the unit of work.
 */
export function createUsersRepository(db: Database) {
  const { users, usageRecords, apiKeyUsage } = db.tables;
  // Hot paths (GET /auth/me, every finished reply): built and prepared once per process.
  const byId = db.prepare<{ id: string }, UserRow[]>('users.byId', (q) =>
    q
      .select()
      .from(users)
      .where(eq(users.id, sql.placeholder('id')))
      .limit(1),
  );
  // A day's usage row (a user's, or an API key's: the same columns) for one call, and what a
  // repeat on the same day, provider and model adds to the row already there.
  const oneCall = {
    day: sql.placeholder('day'),
    provider: sql.placeholder('provider'),
    model: sql.placeholder('model'),
    requests: 1,
    inputTokens: sql.placeholder('inputTokens'),
    outputTokens: sql.placeholder('outputTokens'),
  };
  const addedTo = (table: typeof usageRecords | typeof apiKeyUsage) => ({
    requests: sql`${table.requests} + 1`,
    inputTokens: sql`${table.inputTokens} + ${sql.placeholder('inputTokens')}`,
    outputTokens: sql`${table.outputTokens} + ${sql.placeholder('outputTokens')}`,
  });
  const addUsage = db.prepare<
    { userId: string; day: string; provider: string; model: string; inputTokens: number; outputTokens: number },
    unknown
  >('users.addUsage', (q) =>
    q
      .insert(usageRecords)
      .values({
        userId: sql.placeholder('userId'),
        ...oneCall,
      })
      .onConflictDoUpdate({
        target: [usageRecords.userId, usageRecords.day, usageRecords.provider, usageRecords.model],
        set: addedTo(usageRecords),
      }),
  );
  // The same record for the API key the call was made with (see recordUsage).
  const addKeyUsage = db.prepare<
    { apiKeyId: string; day: string; provider: string; model: string; inputTokens: number; outputTokens: number },
    unknown
  >('users.addKeyUsage', (q) =>
    q
      .insert(apiKeyUsage)
      .values({
        apiKeyId: sql.placeholder('apiKeyId'),
        ...oneCall,
      })
      .onConflictDoUpdate({
        target: [apiKeyUsage.apiKeyId, apiKeyUsage.day, apiKeyUsage.provider, apiKeyUsage.model],
        set: addedTo(apiKeyUsage),
      }),
  );
  /**
   * One owner's usage (a user's in usage_records, or an API key's in api_key_usage: the same
   * columns): its rows from `fromDay` (YYYY-MM-DD) on by day, provider and model, and their input +
   * output tokens.
   */
  const usageOf = (table: typeof usageRecords | typeof apiKeyUsage, owner: typeof usageRecords.userId | typeof apiKeyUsage.apiKeyId) => ({
    since: (id: string, fromDay: string, tx: Tx | undefined): Promise<UsageRow[]> =>
      db.run(
        (q) =>
          q
            .select({
              day: table.day,
              provider: table.provider,
              model: table.model,
              requests: table.requests,
              inputTokens: table.inputTokens,
              outputTokens: table.outputTokens,
            })
            .from(table)
            .where(and(eq(owner, id), gte(table.day, fromDay)))
            .orderBy(asc(table.day), asc(table.provider), asc(table.model)),
        tx,
      ),
    async tokensSince(id: string, fromDay: string, tx: Tx | undefined): Promise<number> {
      const [row] = await db.run(
        (q) =>
          q
            .select({ total: sql<string | number | null>`sum(${table.inputTokens} + ${table.outputTokens})` })
            .from(table)
            .where(and(eq(owner, id), gte(table.day, fromDay))),
        tx,
      );
      return Number(row?.total ?? 0);
    },
  });
  const userUsage = usageOf(usageRecords, usageRecords.userId);
  const keyUsage = usageOf(apiKeyUsage, apiKeyUsage.apiKeyId);
  return repository((tx: Tx | undefined) => ({
    usageSince: (userId: string, fromDay: string) => userUsage.since(userId, fromDay, tx),
    tokensSince: (userId: string, fromDay: string) => userUsage.tokensSince(userId, fromDay, tx),
    keyUsageSince: (apiKeyId: string, fromDay: string) => keyUsage.since(apiKeyId, fromDay, tx),
    keyTokensSince: (apiKeyId: string, fromDay: string) => keyUsage.tokensSince(apiKeyId, fromDay, tx),
    async findById(id: string): Promise<UserRow | undefined> {
      const [row] = await byId({ id }, tx);
      return row;
    },
    async findByEmail(email: string): Promise<UserRow | undefined> {
      const [row] = await db.run((q) => q.select().from(users).where(eq(users.email, email)).limit(1), tx);
      return row;
    },
    async insert(user: NewUser): Promise<UserRow> {
      const [row] = await db.run((q) => q.insert(users).values(user).returning(), tx);
      return row!;
    },
    async update(id: string, patch: Partial<Omit<NewUser, 'id' | 'createdAt'>>): Promise<UserRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(users)
            .set({ ...patch, updatedAt: new Date() })
            .where(eq(users.id, id))
            .returning(),
        tx,
      );
      return row;
    },
    /** Turns a guest into a user; undefined when it is no longer a guest (a race, or a replay). */
    async upgradeGuest(id: string, fields: { email: string; passwordHash: string; name: string | null }): Promise<UserRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(users)
            .set({ ...fields, role: 'user', updatedAt: new Date() })
            .where(and(eq(users.id, id), eq(users.role, 'guest')))
            .returning(),
        tx,
      );
      return row;
    },
    /** Newest first; ids are UUIDv7, so id order is creation order. */
    async list({ limit, afterId, emailContains }: { limit: number; afterId?: string; emailContains?: string }): Promise<UserRow[]> {
      const conditions: SQL[] = [];
      if (afterId) conditions.push(lt(users.id, afterId));
      if (emailContains) conditions.push(containsText(users.email, emailContains));
      return db.run(
        (q) =>
          q
            .select()
            .from(users)
            .where(conditions.length ? and(...conditions) : undefined)
            .orderBy(desc(users.id))
            .limit(limit),
        tx,
      );
    },
    /**
     * Rolls daily usage rows from before `cutoffDay` (YYYY-MM-DD) into one row per user, month
     * (`YYYY-MM` in the day column), provider and model, adding to a month row already there;
     * returns how many daily rows went. Run inside a transaction (see the users service).
     */
    async rollUpBefore(cutoffDay: string): Promise<number> {
      const daily = and(lt(usageRecords.day, cutoffDay), sql`length(${usageRecords.day}) = 10`);
      const month = sql<string>`substr(${usageRecords.day}, 1, 7)`;
      const months = await db.run(
        (q) =>
          q
            .select({
              userId: usageRecords.userId,
              day: month,
              provider: usageRecords.provider,
              model: usageRecords.model,
              requests: sql<string | number>`sum(${usageRecords.requests})`,
              inputTokens: sql<string | number>`sum(${usageRecords.inputTokens})`,
              outputTokens: sql<string | number>`sum(${usageRecords.outputTokens})`,
            })
            .from(usageRecords)
            .where(daily)
            .groupBy(usageRecords.userId, month, usageRecords.provider, usageRecords.model),
        tx,
      );
      for (const row of months) {
        const values = {
          ...row,
          requests: Number(row.requests),
          inputTokens: Number(row.inputTokens),
          outputTokens: Number(row.outputTokens),
        };
        await db.run(
          (q) =>
            q
              .insert(usageRecords)
              .values(values)
              .onConflictDoUpdate({
                target: [usageRecords.userId, usageRecords.day, usageRecords.provider, usageRecords.model],
                set: {
                  requests: sql`${usageRecords.requests} + ${values.requests}`,
                  inputTokens: sql`${usageRecords.inputTokens} + ${values.inputTokens}`,
                  outputTokens: sql`${usageRecords.outputTokens} + ${values.outputTokens}`,
                },
              }),
          tx,
        );
      }
      const removed = await db.run((q) => q.delete(usageRecords).where(daily).returning({ day: usageRecords.day }), tx);
      return removed.length;
    },
    /**
     * Adds one completed request's tokens to the user's row for that day and model, and, when it
     * was made with an API key, to the key's row too (both or neither).
     */
    async recordUsage(entry: {
      userId: string;
      apiKeyId?: string | null;
      day: string;
      provider: string;
      model: string;
      inputTokens: number;
      outputTokens: number;
    }) {
      const { apiKeyId, ...call } = entry;
      if (!apiKeyId) {
        await addUsage(call, tx);
        return;
      }
      const both = async (unit: Tx) => {
        await addUsage(call, unit);
        await addKeyUsage({ ...call, apiKeyId }, unit);
      };
      await (tx ? both(tx) : db.transaction(both));
    },
  }));
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
