import { and, desc, eq, gt, isNotNull, isNull, lt, lte, ne, or, type SQL, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { bound } from '../../infra/db/placeholder.ts';
import { repository } from '../../infra/db/repository.ts';

export type SessionRow = Database['tables']['sessions']['$inferSelect'];
export type ApiKeyRow = Database['tables']['apiKeys']['$inferSelect'];
export type OneTimePurpose = 'reset_password' | 'verify_email';
/** The limits columns of a key (see key-grants.ts). */
type KeyFields = Pick<ApiKeyRow, 'allowedModels' | 'requestsPerMinute' | 'tokensPerMinute' | 'monthlyTokenBudget'>;

/**
 * Data access for sessions, refresh tokens, API keys and mailed one-time tokens. Inside a
 * transaction, use `repo.with(tx)`: the same methods, on the unit of work.
 */
export function createAuthRepository(db: Database) {
  const { sessions, refreshTokens, apiKeys, oneTimeTokens, users } = db.tables;
  const now = () => new Date();

  /** Revokes the live sessions matching `conditions`; returns their ids. */
  const revokeSessions = async (conditions: (SQL | undefined)[], tx?: Tx): Promise<string[]> => {
    const rows = await db.run(
      (q) =>
        q
          .update(sessions)
          .set({ revokedAt: now() })
          .where(and(isNull(sessions.revokedAt), ...conditions))
          .returning({ id: sessions.id }),
      tx,
    );
    return rows.map((row) => row.id);
  };

  /** A page of a user's live rows (sessions or API keys), newest first: ids are UUIDv7, so id order is creation order. */
  const newestFirst = <T extends typeof sessions | typeof apiKeys>(
    table: T,
    live: SQL[],
    options: { limit: number; afterId?: string; tx?: Tx },
  ): Promise<T['$inferSelect'][]> =>
    db.run(
      (q) =>
        q
          .select()
          .from(table as typeof sessions)
          .where(and(...live, options.afterId ? lt(table.id, options.afterId) : undefined))
          .orderBy(desc(table.id))
          .limit(options.limit),
      options.tx,
    ) as Promise<T['$inferSelect'][]>;

  // Every authenticated request runs one of these two: built and prepared once per process.
  const sessionWithUser = db.prepare<{ id: string }, { session: SessionRow; user: typeof users.$inferSelect }[]>(
    'auth.sessionWithUser',
    (q) =>
      q
        .select({ session: sessions, user: users })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(sessions.id, sql.placeholder('id')))
        .limit(1),
  );
  const apiKeyWithUser = db.prepare<{ hash: string }, { key: ApiKeyRow; user: typeof users.$inferSelect }[]>('auth.apiKeyWithUser', (q) =>
    q
      .select({ key: apiKeys, user: users })
      .from(apiKeys)
      .innerJoin(users, eq(users.id, apiKeys.userId))
      .where(eq(apiKeys.keyHash, sql.placeholder('hash')))
      .limit(1),
  );
  const sessionSeen = db.prepare<{ id: string; at: Date }, unknown>('auth.sessionSeen', (q) =>
    q
      .update(sessions)
      .set({ lastSeenAt: bound(sessions.lastSeenAt, 'at') })
      .where(eq(sessions.id, sql.placeholder('id'))),
  );
  const apiKeyUsed = db.prepare<{ id: string; at: Date }, unknown>('auth.apiKeyUsed', (q) =>
    q
      .update(apiKeys)
      .set({ lastUsedAt: bound(apiKeys.lastUsedAt, 'at') })
      .where(eq(apiKeys.id, sql.placeholder('id'))),
  );

  return repository((tx: Tx | undefined) => ({
    async createSession(session: { id: string; userId: string; userAgent: string | null; ip: string | null; expiresAt: Date }) {
      await db.run((q) => q.insert(sessions).values({ ...session, lastSeenAt: now() }), tx);
    },

    /** The session with its user, in one query: what every authenticated request checks. */
    async findSessionWithUser(sessionId: string) {
      const [row] = await sessionWithUser({ id: sessionId }, tx);
      return row;
    },

    async listActiveSessions(userId: string, limit: number, afterId?: string) {
      return newestFirst(sessions, [eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now())], {
        limit,
        afterId,
        tx,
      });
    },

    async touchSession(sessionId: string, fields: { expiresAt?: Date; ip?: string | null; userAgent?: string | null } = {}) {
      await db.run(
        (q) =>
          q
            .update(sessions)
            .set({ lastSeenAt: now(), ...fields })
            .where(eq(sessions.id, sessionId)),
        tx,
      );
    },

    /** Last-seen only: what authenticated requests record (at most once a minute each). */
    async markSessionSeen(sessionId: string) {
      await sessionSeen({ id: sessionId, at: now() }, tx);
    },

    /** Revokes sessions of a user (all, or all but one); returns the ids revoked. */
    async revokeUserSessions(userId: string, exceptSessionId?: string): Promise<string[]> {
      return revokeSessions([eq(sessions.userId, userId), exceptSessionId ? ne(sessions.id, exceptSessionId) : undefined], tx);
    },

    async revokeSession(sessionId: string, userId?: string): Promise<boolean> {
      return (await revokeSessions([eq(sessions.id, sessionId), userId ? eq(sessions.userId, userId) : undefined], tx)).length > 0;
    },

    async insertRefreshToken(token: { tokenHash: string; sessionId: string; expiresAt: Date }) {
      await db.run((q) => q.insert(refreshTokens).values(token), tx);
    },

    async findRefreshToken(tokenHash: string) {
      const [row] = await db.run((q) => q.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1), tx);
      return row;
    },

    /** Marks a refresh token used; false when it already was (a race or a replay). */
    async consumeRefreshToken(tokenHash: string): Promise<boolean> {
      const rows = await db.run(
        (q) =>
          q
            .update(refreshTokens)
            .set({ usedAt: now() })
            .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt)))
            .returning({ tokenHash: refreshTokens.tokenHash }),
        tx,
      );
      return rows.length === 1;
    },

    async insertApiKey(
      key: { id: string; userId: string; name: string; keyHash: string; keyPrefix: string; expiresAt: Date | null } & Partial<KeyFields>,
    ) {
      const [row] = await db.run((q) => q.insert(apiKeys).values(key).returning(), tx);
      return row!;
    },

    /** A key by id, revoked or not; with `userId`, only when it is theirs. */
    async findApiKey(id: string, userId?: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .select()
            .from(apiKeys)
            .where(and(eq(apiKeys.id, id), userId ? eq(apiKeys.userId, userId) : undefined))
            .limit(1),
        tx,
      );
      return row;
    },

    /** Changes a live key of the user; undefined when there is none (another's, revoked, or no such key). */
    async updateApiKey(id: string, userId: string, patch: Partial<{ name: string; expiresAt: Date | null } & KeyFields>) {
      const [row] = await db.run(
        (q) =>
          q
            .update(apiKeys)
            .set(patch)
            .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
            .returning(),
        tx,
      );
      return row;
    },

    async listApiKeys(userId: string, limit: number, afterId?: string) {
      return newestFirst(apiKeys, [eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)], { limit, afterId, tx });
    },

    async findApiKeyWithUser(keyHash: string) {
      const [row] = await apiKeyWithUser({ hash: keyHash }, tx);
      return row;
    },

    async touchApiKey(id: string) {
      await apiKeyUsed({ id, at: now() }, tx);
    },

    async revokeApiKey(id: string, userId: string): Promise<boolean> {
      const rows = await db.run(
        (q) =>
          q
            .update(apiKeys)
            .set({ revokedAt: now() })
            .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
            .returning({ id: apiKeys.id }),
        tx,
      );
      return rows.length > 0;
    },

    /** Removes what can never be used again: ended sessions (with their tokens) and spent or stale tokens. */
    async cleanup(): Promise<{ sessions: number; refreshTokens: number; oneTimeTokens: number }> {
      // Atomic on its own, or part of the caller's unit of work when given one.
      const atomically = <T>(work: (unit: Tx) => Promise<T>) => (tx ? work(tx) : db.transaction(work));
      return atomically(async (unit) => {
        const at = now();
        const ended = await unit
          .delete(sessions)
          .where(or(isNotNull(sessions.revokedAt), lte(sessions.expiresAt, at)))
          .returning({ id: sessions.id });
        const stale = await unit.delete(refreshTokens).where(lte(refreshTokens.expiresAt, at)).returning({ id: refreshTokens.tokenHash });
        const spent = await unit
          .delete(oneTimeTokens)
          .where(or(isNotNull(oneTimeTokens.usedAt), lte(oneTimeTokens.expiresAt, at)))
          .returning({ id: oneTimeTokens.tokenHash });
        return { sessions: ended.length, refreshTokens: stale.length, oneTimeTokens: spent.length };
      });
    },

    async insertOneTimeToken(token: { tokenHash: string; userId: string; purpose: OneTimePurpose; email: string; expiresAt: Date }) {
      await db.run((q) => q.insert(oneTimeTokens).values(token), tx);
    },

    /** Uses a mailed token once: whom it was for, when it was valid, unused and unexpired. */
    async consumeOneTimeToken(tokenHash: string, purpose: OneTimePurpose): Promise<{ userId: string; email: string | null } | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(oneTimeTokens)
            .set({ usedAt: now() })
            .where(
              and(
                eq(oneTimeTokens.tokenHash, tokenHash),
                eq(oneTimeTokens.purpose, purpose),
                isNull(oneTimeTokens.usedAt),
                gt(oneTimeTokens.expiresAt, now()),
              ),
            )
            .returning({ userId: oneTimeTokens.userId, email: oneTimeTokens.email }),
        tx,
      );
      return row;
    },
  }));
}

export type AuthRepository = ReturnType<typeof createAuthRepository>;
