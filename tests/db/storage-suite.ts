// One storage suite, run on SQLite and on Postgres (sqlite.test.ts, postgres.test.ts): the same
// awaited Drizzle calls must behave the same on both, transactions included.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../../src/infra/db/index.ts';

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

    test('migrate is idempotent', async () => {
      expect(await db.migrate()).toBe(0);
      expect(await db.migrate()).toBe(0);
    });

    test('round-trips dates, booleans, JSON and defaults', async () => {
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

    test('a unique email is enforced', async () => {
      const email = `${crypto.randomUUID()}@example.com`;
      await newUser(email);
      await expect(newUser(email)).rejects.toThrow();
    });

    test('deleting a user cascades to chats and messages', async () => {
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

    test('usage records add up through an upsert', async () => {
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

    test('a transaction that throws rolls back every write, across awaits', async () => {
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

    test('a transaction that completes commits, and returns its value', async () => {
      const id = Bun.randomUUIDv7();
      const result = await db.transaction(async (tx) => {
        await tx.insert(db.tables.users).values({ id, email: `${id}@example.com` });
        return 'done';
      });
      expect(result).toBe('done');
      expect(await userExists(id)).toBe(true);
    });

    test('a nested transaction joins the outer one and rolls back with it', async () => {
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

    test('work running beside a failing transaction is neither lost nor rolled back with it', async () => {
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

    test('many concurrent transactions all commit', async () => {
      const ids = Array.from({ length: 20 }, () => Bun.randomUUIDv7());
      await Promise.all(ids.map((id) => db.transaction((tx) => tx.insert(db.tables.users).values({ id, email: `${id}@example.com` }))));
      for (const id of ids) expect(await userExists(id)).toBe(true);
    });

    test('ping measures a round trip, and fails once the database is closed', async () => {
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
