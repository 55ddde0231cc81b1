// One storage suite, run on SQLite and on Postgres (sqlite.test.ts, postgres.test.ts): the same
// awaited Drizzle calls must behave the same on both, transactions included.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { AsyncLocalStorage } from 'node:async_hooks';
import { eq, sql } from 'drizzle-orm';
import type { Database, Db } from '../../src/infra/db/index.ts';
import { createAuthRepository } from '../../src/modules/auth/repository.ts';
import { createUsersRepository } from '../../src/modules/users/repository.ts';

// Every builder method `Db` keeps; the type below fails to compile if `Db` gains one unlisted.
const sharedBuilderMethods = ['select', 'selectDistinct', 'insert', 'update', 'delete', 'with', '$with', '$count'] as const;
const everyMethodListed: [Exclude<keyof Db, (typeof sharedBuilderMethods)[number]>] extends [never] ? true : false = true;

export function runStorageSuite(name: string, open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>) {
  describe(`storage on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ db, cleanup } = await open());
      expect(await db.migrate()).toBeGreaterThan(0);
    });
    afterAll(async () => {
      await db.close();
      await cleanup();
    });

    const newUser = async (email = `${crypto.randomUUID()}@example.com`) => {
      const id = Bun.randomUUIDv7();
      await db.run((q) => q.insert(db.tables.users).values({ id, email, name: 'Test' }));
      return id;
    };
    const userExists = async (id: string) =>
      (await db.run((q) => q.select({ id: db.tables.users.id }).from(db.tables.users).where(eq(db.tables.users.id, id)))).length === 1;

    test('happy: migrate is idempotent', async () => {
      expect(await db.migrate()).toBe(0);
      expect(await db.migrate()).toBe(0);
    });

    test('happy: round-trips dates, booleans, JSON and defaults', async () => {
      const id = await newUser();
      const [row] = await db.run((q) => q.select().from(db.tables.users).where(eq(db.tables.users.id, id)));
      expect(row).toBeDefined();
      expect(row!.createdAt).toBeInstanceOf(Date);
      expect(Math.abs(row!.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
      expect(row!.emailVerified).toBe(false);
      expect(row!.role).toBe('user');
      expect(row!.tier).toBe('free');
      expect(row!.preferences).toEqual({});

      const prefs = { theme: 'dark', nested: { n: 1, list: [1, 'two'] } };
      const [updated] = await db.run((q) =>
        q.update(db.tables.users).set({ preferences: prefs, emailVerified: true }).where(eq(db.tables.users.id, id)).returning(),
      );
      expect(updated!.preferences).toEqual(prefs);
      expect(updated!.emailVerified).toBe(true);
    });

    test('error: a unique email is enforced', async () => {
      const email = `${crypto.randomUUID()}@example.com`;
      await newUser(email);
      await expect(newUser(email)).rejects.toThrow();
    });

    test('happy: deleting a user cascades to chats and messages', async () => {
      const userId = await newUser();
      const chatId = Bun.randomUUIDv7();
      const { chats, messages, users } = db.tables;
      await db.run(async (q) => {
        await q.insert(chats).values({ id: chatId, userId, title: 'hello' });
        await q.insert(messages).values({ id: Bun.randomUUIDv7(), chatId, role: 'user', content: 'hi', attachments: ['f1'] });
      });
      const [message] = await db.run((q) => q.select().from(messages).where(eq(messages.chatId, chatId)));
      expect(message!.attachments).toEqual(['f1']);
      expect(message!.status).toBe('complete');
      await db.run((q) => q.delete(users).where(eq(users.id, userId)));
      expect(await db.run((q) => q.select().from(chats).where(eq(chats.id, chatId)))).toHaveLength(0);
      expect(await db.run((q) => q.select().from(messages).where(eq(messages.chatId, chatId)))).toHaveLength(0);
    });

    test('happy: usage records add up through an upsert', async () => {
      const userId = await newUser();
      const { usageRecords } = db.tables;
      for (const tokens of [3, 4]) {
        await db.run((q) =>
          q
            .insert(usageRecords)
            .values({ userId, day: '2026-11-23', provider: 'echo', model: 'echo', requests: 1, inputTokens: tokens, outputTokens: 1 })
            .onConflictDoUpdate({
              target: [usageRecords.userId, usageRecords.day, usageRecords.provider, usageRecords.model],
              set: {
                requests: sql`${usageRecords.requests} + 1`,
                inputTokens: sql`${usageRecords.inputTokens} + ${tokens}`,
                outputTokens: sql`${usageRecords.outputTokens} + 1`,
              },
            }),
        );
      }
      const [row] = await db.run((q) => q.select().from(usageRecords).where(eq(usageRecords.userId, userId)));
      expect(row).toMatchObject({ requests: 2, inputTokens: 7, outputTokens: 2 });
    });

    test('error: a transaction that throws rolls back every write, across awaits', async () => {
      const ids = [Bun.randomUUIDv7(), Bun.randomUUIDv7()];
      const failure = db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id: ids[0]!, email: `${ids[0]}@example.com` });
        await Bun.sleep(5);
        await tx.insert(db.tables.users).values({ id: ids[1]!, email: `${ids[1]}@example.com` });
        throw new Error('boom');
      });
      await expect(failure).rejects.toThrow('boom');
      await failure.catch(() => undefined);
      expect(await userExists(ids[0]!)).toBe(false);
      expect(await userExists(ids[1]!)).toBe(false);
    });

    test('happy: a transaction that completes commits, and returns its value', async () => {
      const id = Bun.randomUUIDv7();
      const result = await db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id, email: `${id}@example.com` });
        return 'done';
      });
      expect(result).toBe('done');
      expect(await userExists(id)).toBe(true);
    });

    test('error: a nested transaction joins the outer one and rolls back with it', async () => {
      const outer = Bun.randomUUIDv7();
      const inner = Bun.randomUUIDv7();
      const failure = db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id: outer, email: `${outer}@example.com` });
        await db.transaction((nested) => nested.insert(db.tables.users).values({ id: inner, email: `${inner}@example.com` }));
        // Work through db.run inside a transaction uses the transaction too.
        expect(await userExists(inner)).toBe(true);
        throw new Error('outer fails');
      });
      await failure.catch(() => undefined);
      expect(await userExists(outer)).toBe(false);
      expect(await userExists(inner)).toBe(false);
    });

    test('error: work running beside a failing transaction is neither lost nor rolled back with it', async () => {
      const inTx = Bun.randomUUIDv7();
      const beside = Bun.randomUUIDv7();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const failing = db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id: inTx, email: `${inTx}@example.com` });
        await gate;
        throw new Error('rolled back');
      });
      const concurrent = newUserWithId(db, beside);
      await Bun.sleep(10);
      release();
      await failing.catch(() => undefined);
      await concurrent;
      expect(await userExists(inTx)).toBe(false);
      expect(await userExists(beside)).toBe(true);
    });

    test('error: a unit of work handing tx to its repositories rolls back as a whole', async () => {
      const users = createUsersRepository(db);
      const auth = createAuthRepository(db);
      const id = Bun.randomUUIDv7();
      const sessionId = Bun.randomUUIDv7();
      const failure = db.transaction(async (tx) => {
        await users.with(tx).insert({ id, email: `${id}@example.com` });
        await Bun.sleep(5);
        await auth
          .with(tx)
          .createSession({ id: sessionId, userId: id, userAgent: null, ip: null, expiresAt: new Date(Date.now() + 60_000) });
        // A prepared statement and raw SQL take the handle too.
        await users
          .with(tx)
          .recordUsage({ userId: id, day: '2026-01-02', provider: 'echo', model: 'echo', inputTokens: 1, outputTokens: 1 });
        expect(await auth.with(tx).findSessionWithUser(sessionId)).toBeDefined();
        const [seen] = await db.raw<{ n: number }>(sql`SELECT count(*) AS n FROM users WHERE id = ${id}`, tx);
        expect(Number(seen!.n)).toBe(1);
        throw new Error('boom');
      });
      await expect(failure).rejects.toThrow('boom');
      expect(await userExists(id)).toBe(false);
      expect(await auth.findSessionWithUser(sessionId)).toBeUndefined();
      expect(await users.usageSince(id, '2026-01-01')).toEqual([]);
    });

    test('happy: tx alone decides: a call handed tx joins it even outside the ambient scope', async () => {
      const users = createUsersRepository(db);
      // Runs a function in the context captured here, where no transaction is ambient.
      const outside = AsyncLocalStorage.snapshot();
      const kept = Bun.randomUUIDv7();
      await db.transaction((tx) => outside(() => users.with(tx).insert({ id: kept, email: `${kept}@example.com` })));
      expect(await userExists(kept)).toBe(true);

      const dropped = Bun.randomUUIDv7();
      const failure = db.transaction(async (tx) => {
        await outside(() => users.with(tx).insert({ id: dropped, email: `${dropped}@example.com` }));
        throw new Error('boom');
      });
      await expect(failure).rejects.toThrow('boom');
      expect(await userExists(dropped)).toBe(false);
    });

    test('error: a handle used after its transaction ended is refused', async () => {
      const users = createUsersRepository(db);
      const stale = await db.transaction(async (tx) => tx);
      const id = Bun.randomUUIDv7();
      await expect(async () => users.with(stale).insert({ id, email: `${id}@example.com` })).toThrow('after its transaction ended');
      await expect(async () => users.with(stale).findById(id)).toThrow('after its transaction ended');
      expect(await userExists(id)).toBe(false);
    });

    test('error: work a transaction left running, once it commits, is no longer part of any transaction', async () => {
      const late = Bun.randomUUIDv7();
      const inFailing = Bun.randomUUIDv7();
      let releaseLate!: () => void;
      const lateGate = new Promise<void>((resolve) => (releaseLate = resolve));
      let leftRunning!: Promise<unknown>;
      await db.transaction(async () => {
        // Not awaited, and without tx: it outlives the callback (a fire-and-forget call).
        leftRunning = lateGate.then(() => newUserWithId(db, late));
      });
      let releaseFailing!: () => void;
      const failingGate = new Promise<void>((resolve) => (releaseFailing = resolve));
      const failing = db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id: inFailing, email: `${inFailing}@example.com` });
        await failingGate;
        throw new Error('rolled back');
      });
      releaseLate();
      await Bun.sleep(10);
      releaseFailing();
      await failing.catch(() => undefined);
      await leftRunning;
      expect(await userExists(inFailing)).toBe(false);
      expect(await userExists(late)).toBe(true);
    });

    test('happy: the handle has every builder method Db keeps', async () => {
      expect(everyMethodListed).toBe(true);
      const handles = [await db.run(async (q) => q), await db.transaction(async (tx) => tx)];
      for (const handle of handles) {
        for (const method of sharedBuilderMethods) expect(typeof (handle as Record<string, unknown>)[method]).toBe('function');
      }
    });

    test('happy: many concurrent transactions all commit', async () => {
      const ids = Array.from({ length: 20 }, () => Bun.randomUUIDv7());
      await Promise.all(ids.map((id) => db.transaction((tx) => tx.insert(db.tables.users).values({ id, email: `${id}@example.com` }))));
      for (const id of ids) expect(await userExists(id)).toBe(true);
    });

    test('error: ping measures a round trip, and fails once the database is closed', async () => {
      const latency = await db.ping();
      expect(Number.isFinite(latency)).toBe(true);
      const { db: other, cleanup: drop } = await open();
      await other.close();
      await expect(other.ping()).rejects.toThrow();
      await drop();
    });
  });
}

function newUserWithId(db: Database, id: string) {
  return db.run((q) => q.insert(db.tables.users).values({ id, email: `${id}@example.com` }));
}
