import { AppError, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { Cache } from '../../infra/cache/index.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { type AdminUserView, maxPreferencesBytes, type Profile, type PublicUser, type Role, type Tier, type Usage } from './model.ts';
import { createUsersRepository, type UsageRow, type UserRow } from './repository.ts';

export type { UserRow } from './repository.ts';

/** The public fields of a user: from a row, or from the caller the request already resolved. */
export function toPublicUser(row: Pick<UserRow, 'id' | 'email' | 'name' | 'role' | 'tier' | 'emailVerified' | 'createdAt'>): PublicUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    tier: row.tier,
    emailVerified: row.emailVerified,
    createdAt: row.createdAt.toISOString(),
  };
}

export function toProfile(row: UserRow): Profile {
  return { ...toPublicUser(row), avatarUrl: row.avatarUrl, preferences: row.preferences, updatedAt: row.updatedAt.toISOString() };
}

function toAdminView(row: UserRow): AdminUserView {
  return { ...toPublicUser(row), disabled: row.disabled, updatedAt: row.updatedAt.toISOString() };
}

/** Emails are compared and stored trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const monthStart = (now: Date) => `${dayOf(now).slice(0, 7)}-01`;

/** Usage rows (by day, provider and model, oldest first) as totals, by day and by model. */
function summarise(rows: UsageRow[], from: string, to: string): Usage {
  const zero = () => ({ requests: 0, inputTokens: 0, outputTokens: 0 });
  const totals = zero();
  const byDay = new Map<string, ReturnType<typeof zero>>();
  const byModel = new Map<string, { provider: string; model: string } & ReturnType<typeof zero>>();
  for (const row of rows) {
    const day = byDay.get(row.day) ?? zero();
    byDay.set(row.day, day);
    const modelKey = `${row.provider}\u0000${row.model}`;
    const model = byModel.get(modelKey) ?? { provider: row.provider, model: row.model, ...zero() };
    byModel.set(modelKey, model);
    for (const sum of [totals, day, model]) {
      sum.requests += row.requests;
      sum.inputTokens += row.inputTokens;
      sum.outputTokens += row.outputTokens;
    }
  }
  return { from, to, totals, byDay: [...byDay].map(([day, sums]) => ({ day, ...sums })), byModel: [...byModel.values()] };
}

export function createUsersService(db: Database, cache: Cache) {
  const users = createUsersRepository(db);
  // GET /users/me: every write to a user's row below drops it, on every instance.
  const profiles = cache.namespace<Profile>('profiles', { l1TtlMs: 5_000, l2TtlMs: 300_000 });
  /** The row as written, once its cached profile is gone everywhere. */
  const written = async <R>(userId: string, row: R): Promise<R> => {
    await profiles.invalidate(userId);
    return row;
  };

  const mustFind = async (id: string, tx?: Tx) => {
    const row = await (tx ? users.with(tx) : users).findById(id);
    if (!row) throw notFound('User');
    return row;
  };

  return {
    findById: users.findById,
    /** Storage for the auth module's account flows (register, guests, passwords, verification). */
    insert: users.insert,
    update: async (id: string, patch: Parameters<typeof users.update>[1]) => written(id, await users.update(id, patch)),
    upgradeGuest: async (id: string, fields: Parameters<typeof users.upgradeGuest>[1]) => written(id, await users.upgradeGuest(id, fields)),

    /**
     * Adds one finished request's tokens to the user's row for today (UTC) and that model; with
     * `apiKeyId` (the call was made with that key), to the key's row as well, in one transaction.
     * Every LLM call's usage is recorded here and nowhere else.
     */
    async recordUsage(
      userId: string,
      call: { provider: string; model: string; inputTokens: number; outputTokens: number; apiKeyId?: string | null },
      at = new Date(),
    ) {
      await users.recordUsage({ userId, day: dayOf(at), ...call });
    },
    /** Input + output tokens the user has used this calendar month (UTC): one SUM over the usage records. */
    /**
     * Housekeeping: usage older than `keepDays` days (default 400: past any `?days=` a usage route
     * takes, 366) is kept as one row per month instead of one per day. Returns `{ usageRolledUp }`,
     * the daily rows folded.
     */
    async rollUpUsage(now = new Date(), keepDays = 400): Promise<{ usageRolledUp: number }> {
      const cutoff = dayOf(new Date(now.getTime() - keepDays * 86_400_000));
      return { usageRolledUp: await db.transaction((tx) => users.with(tx).rollUpBefore(cutoff)) };
    },
    monthTokens: (userId: string, now = new Date()) => users.tokensSince(userId, monthStart(now)),
    /** Input + output tokens the calls made with an API key used this calendar month (UTC). */
    keyMonthTokens: (apiKeyId: string, now = new Date()) => users.keyTokensSince(apiKeyId, monthStart(now)),
    /** An API key's requests and tokens over the last `days` days (UTC), in the shape of `usage`. */
    async keyUsage(apiKeyId: string, days: number, now = new Date()): Promise<Usage> {
      const from = dayOf(new Date(now.getTime() - (days - 1) * 86_400_000));
      return summarise(await users.keyUsageSince(apiKeyId, from), from, dayOf(now));
    },
    findByEmail: (email: string) => users.findByEmail(normaliseEmail(email)),

    /** From the two-layer cache; a user that does not exist is not cached (404 each time). */
    profile(userId: string): Promise<Profile> {
      return profiles.get(userId, async () => toProfile(await mustFind(userId)));
    },

    async updateProfile(userId: string, patch: { name?: string | null; avatarUrl?: string | null }): Promise<Profile> {
      const row = await written(userId, await users.update(userId, patch));
      if (!row) throw notFound('User');
      return toProfile(row);
    },

    async mergePreferences(userId: string, changes: Record<string, unknown>): Promise<Profile> {
      // Read, merge and write as one unit of work; the cached profile goes once it is committed.
      const profile = await db.transaction(async (tx) => {
        const current = await mustFind(userId, tx);
        // Without a prototype, every key (even `__proto__`) is an own key: none can reach a prototype.
        const merged: Record<string, unknown> = Object.assign(Object.create(null), current.preferences);
        for (const [key, value] of Object.entries(changes)) {
          if (value === null) delete merged[key];
          else merged[key] = value;
        }
        if (Buffer.byteLength(JSON.stringify(merged)) > maxPreferencesBytes) {
          throw new AppError('payload_too_large', `Preferences are limited to ${maxPreferencesBytes} bytes`);
        }
        // A plain object again for the database layer (which looks at `constructor`): fromEntries
        // defines own keys, it never assigns, so no key reaches the prototype here either.
        const preferences: Record<string, unknown> = Object.fromEntries(Object.entries(merged));
        return toProfile((await users.with(tx).update(userId, { preferences }))!);
      });
      return written(userId, profile);
    },

    async usage(userId: string, days: number, now = new Date()): Promise<Usage> {
      const from = dayOf(new Date(now.getTime() - (days - 1) * 86_400_000));
      return summarise(await users.usageSince(userId, from), from, dayOf(now));
    },

    async adminList(query: { limit?: number; cursor?: string; q?: string }): Promise<Page<AdminUserView>> {
      const limit = query.limit ?? 20;
      const afterId = decodeCursor(query.cursor, isString);
      const rows = await users.list({ limit: limit + 1, afterId, emailContains: query.q ? normaliseEmail(query.q) : undefined });
      return toPage(rows, limit, (row) => row.id, toAdminView);
    },

    /** The user as an admin sees it; 404 when there is none. */
    adminGet: async (userId: string): Promise<AdminUserView> => toAdminView(await mustFind(userId)),

    /** Changes role, tier or disabled; answers the user as it was (`before`) and as it now is (`user`), for the audit log. */
    async adminUpdate(
      userId: string,
      patch: { role?: Role; tier?: Tier; disabled?: boolean },
    ): Promise<{ before: AdminUserView; user: AdminUserView }> {
      const current = await mustFind(userId);
      if (current.role === 'guest' && patch.role && patch.role !== 'guest') {
        throw new AppError('conflict', 'A guest must register before it can be given another role');
      }
      if (patch.role === 'guest' && current.role !== 'guest') throw new AppError('conflict', 'A registered user cannot become a guest');
      return { before: toAdminView(current), user: toAdminView((await written(userId, await users.update(userId, patch)))!) };
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
