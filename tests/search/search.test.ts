// Full-text search (src/modules/chats/search.ts) on both dialects, against the real migrations.
import { Database as SqliteClient } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/bun-sqlite';
import type { Database } from '../../src/infra/db/index.ts';
import { readMigrations } from '../../src/infra/db/migrations.macro.ts';
import { openPostgres } from '../../src/infra/db/postgres.ts';
import { openSqlite } from '../../src/infra/db/sqlite.ts';
import {
  type ChatSearch,
  createChatSearch,
  decodeSearchCursor,
  encodeSearchCursor,
  messageVector,
  searchTerms,
  titleVector,
  toFtsQuery,
  toTsQuery,
} from '../../src/modules/chats/search.ts';
import { createTestDatabase, hasPostgres } from '../helpers/services.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'parley-search-'));

function runSearchSuite(name: string, open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>) {
  describe(`chat search on ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    let search: ChatSearch;
    const alice = Bun.randomUUIDv7();
    const bob = Bun.randomUUIDv7();
    const ids: Record<string, string> = {};

    const addChat = async (key: string, userId: string, title: string | null, extra: { archived?: boolean; updatedAt?: Date } = {}) => {
      const id = Bun.randomUUIDv7();
      ids[key] = id;
      await db.run((q) => q.insert(db.tables.chats).values({ id, userId, title, ...extra }));
      return id;
    };
    const addMessage = async (chatKey: string, content: string, key?: string) => {
      const id = Bun.randomUUIDv7();
      if (key) ids[key] = id;
      await db.run((q) => q.insert(db.tables.messages).values({ id, chatId: ids[chatKey]!, role: 'user', content }));
      return id;
    };
    const chatIds = async (userId: string, query: string, limit = 50) =>
      (await search.search(userId, query, { limit })).map((hit) => hit.chatId);

    beforeAll(async () => {
      ({ db, cleanup } = await open());
      expect(await db.migrate()).toBeGreaterThan(0);
      search = createChatSearch(db);
      await db.run((q) =>
        q.insert(db.tables.users).values([
          { id: alice, email: `${alice}@example.com` },
          { id: bob, email: `${bob}@example.com` },
        ]),
      );
      await addChat('checklist', alice, 'Deployment checklist');
      await addMessage('checklist', 'How do we roll back?');
      await addChat('cooking', alice, 'Cooking');
      await addMessage('cooking', 'The Kubernetes deployment failed at step three', 'k8sMessage');
      await addMessage('cooking', 'Try the café crème at the corner');
      await addChat('archived', alice, 'Old things', { archived: true });
      await addMessage('archived', 'zebra migration notes');
      await addChat('bananas', alice, 'Banana bread');
      for (let i = 0; i < 5; i++) await addMessage('bananas', `banana number ${i}`);
      await addChat('bobs', bob, 'Deployment of bob');
      await addMessage('bobs', 'kubernetes secret for bob only');
    });
    afterAll(async () => {
      await db.close();
      await cleanup();
    });

    test('happy: a word in a message finds its chat, with a snippet around it', async () => {
      const results = await search.search(alice, 'kubernetes', { limit: 10 });
      expect(results.map((r) => r.chatId)).toEqual([ids.cooking!]);
      expect(results[0]!.matches).toEqual([{ messageId: ids.k8sMessage!, snippet: expect.stringContaining('Kubernetes') }]);
    });

    test('happy: a long message yields a short snippet that contains the hit', async () => {
      const filler = (n: number) => Array.from({ length: n }, (_, i) => `filler${i}`).join(' ');
      await addChat('long', alice, null);
      await addMessage('long', `${filler(150)} the needlepoint is here ${filler(150)}`);
      const [hit] = await search.search(alice, 'needlepoint', { limit: 5 });
      expect(hit?.chatId).toBe(ids.long!);
      const snippet = hit!.matches[0]!.snippet;
      expect(snippet).toContain('needlepoint');
      expect(snippet.length).toBeLessThan(300);
    });

    test('happy: a word in a title finds the chat, with messageId null and the title as snippet', async () => {
      const results = await search.search(alice, 'checklist', { limit: 10 });
      expect(results).toEqual([{ chatId: ids.checklist!, matches: [{ messageId: null, snippet: 'Deployment checklist' }] }]);
    });

    test('happy: the last word matches as a prefix; earlier words must match whole', async () => {
      expect((await chatIds(alice, 'deplo')).sort()).toEqual([ids.checklist!, ids.cooking!].sort());
      expect(await chatIds(alice, 'checklist deplo')).toEqual([ids.checklist!]);
      expect(await chatIds(alice, 'deplo checklist')).toEqual([]);
    });

    test('happy: every word must appear', async () => {
      expect(await chatIds(alice, 'kubernetes failed')).toEqual([ids.cooking!]);
      expect(await chatIds(alice, 'kubernetes succeeded')).toEqual([]);
    });

    test('happy: case does not matter', async () => {
      expect(await chatIds(alice, 'KUBERNETES')).toEqual([ids.cooking!]);
      expect(await chatIds(alice, 'DePlOyMeNt ChEcKlIsT')).toEqual([ids.checklist!]);
      expect(await chatIds(alice, 'CAFÉ')).toEqual([ids.cooking!]);
    });

    test("security: another user's chats never appear", async () => {
      expect(await chatIds(alice, 'bob')).toEqual([]);
      expect(await chatIds(alice, 'secret')).toEqual([]);
      expect(await chatIds(bob, 'kubernetes')).toEqual([ids.bobs!]);
      expect(await chatIds(bob, 'deployment')).toEqual([ids.bobs!]);
      expect(await chatIds(Bun.randomUUIDv7(), 'deployment')).toEqual([]);
    });

    test('happy: archived chats are included', async () => {
      expect(await chatIds(alice, 'zebra')).toEqual([ids.archived!]);
    });

    test('happy: at most 3 matches per chat, the title first', async () => {
      const [hit] = await search.search(alice, 'banana', { limit: 10 });
      expect(hit?.chatId).toBe(ids.bananas!);
      expect(hit!.matches).toHaveLength(3);
      expect(hit!.matches[0]).toEqual({ messageId: null, snippet: 'Banana bread' });
      expect(hit!.matches[1]!.messageId).not.toBeNull();
      expect(new Set(hit!.matches.map((m) => m.messageId)).size).toBe(3);
      for (const match of hit!.matches.slice(1)) expect(match.snippet).toContain('banana');
    });

    test('happy: relevance first, then recency', async () => {
      const old = new Date('2020-01-01T00:00:00Z');
      const recent = new Date('2025-01-01T00:00:00Z');
      await addChat('mangoMany', alice, null, { updatedAt: old });
      await addMessage('mangoMany', 'mango mango mango');
      await addChat('mangoOnce', alice, null, { updatedAt: recent });
      await addMessage('mangoOnce', 'a mango among many other words in a rather longer sentence');
      expect(await chatIds(alice, 'mango')).toEqual([ids.mangoMany!, ids.mangoOnce!]);

      await addChat('kiwiOld', alice, null, { updatedAt: old });
      await addMessage('kiwiOld', 'kiwi fruit');
      await addChat('kiwiNew', alice, null, { updatedAt: recent });
      await addMessage('kiwiNew', 'kiwi fruit');
      expect(await chatIds(alice, 'kiwi')).toEqual([ids.kiwiNew!, ids.kiwiOld!]);
    });

    test('happy: rows written or changed after the index exists are found; deleted ones disappear', async () => {
      const { chats, messages } = db.tables;
      expect(await chatIds(alice, 'quokka')).toEqual([]);
      const messageId = await addMessage('checklist', 'a quokka appeared');
      expect(await chatIds(alice, 'quokka')).toEqual([ids.checklist!]);

      await db.run((q) => q.update(messages).set({ content: 'a wombat appeared' }).where(eq(messages.id, messageId)));
      expect(await chatIds(alice, 'quokka')).toEqual([]);
      expect(await chatIds(alice, 'wombat')).toEqual([ids.checklist!]);
      // An update that leaves the text alone keeps it indexed.
      await db.run((q) => q.update(messages).set({ status: 'interrupted' }).where(eq(messages.id, messageId)));
      expect(await chatIds(alice, 'wombat')).toEqual([ids.checklist!]);

      await db.run((q) => q.delete(messages).where(eq(messages.id, messageId)));
      expect(await chatIds(alice, 'wombat')).toEqual([]);

      const chatId = await addChat('renamed', alice, 'Platypus plans');
      await addMessage('renamed', 'echidna facts');
      expect(await chatIds(alice, 'platypus')).toEqual([chatId]);
      await db.run((q) => q.update(chats).set({ title: 'Narwhal notes' }).where(eq(chats.id, chatId)));
      expect(await chatIds(alice, 'platypus')).toEqual([]);
      expect(await chatIds(alice, 'narwhal')).toEqual([chatId]);

      // Deleting the chat removes its title and (by cascade) its messages from the results.
      await db.run((q) => q.delete(chats).where(eq(chats.id, chatId)));
      expect(await chatIds(alice, 'narwhal')).toEqual([]);
      expect(await chatIds(alice, 'echidna')).toEqual([]);
      // And the index is still consistent for what remains.
      expect(await chatIds(alice, 'kubernetes')).toEqual([ids.cooking!]);
    });

    test('security: query syntax characters are plain text: no errors, no operators', async () => {
      const nasty = [
        '"',
        '*',
        "'",
        '(',
        ')',
        ':',
        '-',
        'OR',
        'NEAR',
        'AND',
        'NOT',
        '"unterminated',
        'title:deployment',
        'NEAR(kubernetes failed)',
        'kubernetes OR nothing',
        '-kubernetes',
        'kubernetes*',
        '^kubernetes',
        "kubernetes' | 'x",
        'a & b | !c <-> d',
        "'; DROP TABLE chats; --",
        '\\',
        '{}[]',
        '%_',
      ];
      for (const query of nasty) {
        const results = await search.search(alice, query, { limit: 10 });
        expect(Array.isArray(results)).toBe(true);
      }
      // Punctuation around a word is ignored rather than interpreted.
      expect(await chatIds(alice, '"kubernetes"')).toEqual([ids.cooking!]);
      expect(await chatIds(alice, '(kubernetes)')).toEqual([ids.cooking!]);
      expect(await chatIds(alice, '-kubernetes')).toEqual([ids.cooking!]);
      expect(await chatIds(alice, 'title:checklist')).toEqual([]);
      expect(await chatIds(alice, 'NOT kubernetes')).toEqual([]);
    });

    test('happy: a query of only punctuation returns nothing', async () => {
      for (const query of ['"*()', '   ', '-:-', '!!!', "''", '']) expect(await search.search(alice, query, { limit: 10 })).toEqual([]);
    });

    test('happy: pages cover every match once, in a stable order', async () => {
      const sameTime = new Date('2024-06-01T00:00:00Z');
      const expected: string[] = [];
      for (let i = 0; i < 7; i++) {
        expected.push(await addChat(`page${i}`, alice, null, { updatedAt: sameTime }));
        await addMessage(`page${i}`, 'pagination sample'); // identical scores: the id breaks ties
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const offset: number = cursor ? decodeSearchCursor(cursor)! : 0;
        const results = await search.search(alice, 'pagination', { limit: 3, offset });
        seen.push(...results.map((r) => r.chatId));
        if (results.length < 3) break;
        cursor = encodeSearchCursor(offset + results.length);
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen).size).toBe(7);
      expect([...seen].sort()).toEqual([...expected].sort());
      expect(seen).toEqual(await chatIds(alice, 'pagination'));
      // Out-of-range options are clamped rather than passed to LIMIT/OFFSET.
      expect(await search.search(alice, 'pagination', { limit: 0 })).toHaveLength(1);
      expect(await search.search(alice, 'pagination', { limit: -5, offset: -3 })).toHaveLength(1);
      expect(await search.search(alice, 'pagination', { limit: 10, offset: 100 })).toEqual([]);
    });

    test('happy: search joins the caller transaction', async () => {
      const found = await db.transaction(async () => {
        await addChat('inTx', alice, 'Transactional tapir');
        return chatIds(alice, 'tapir');
      });
      expect(found).toEqual([ids.inTx!]);
    });
  });
}

describe('query building', () => {
  test('happy: user text becomes quoted terms, the last one a prefix', () => {
    expect(searchTerms(`He said "deploy*" (NOW) -x: OR'd`)).toEqual(['he', 'said', 'deploy', 'now', 'x', 'or', 'd']);
    expect(toFtsQuery(['a', 'or', 'near'])).toBe('"a" "or" "near"*');
    expect(toTsQuery(['a', 'or', 'b'])).toBe("'a' & 'or' & 'b':*");
    expect(searchTerms('"*()-:')).toEqual([]);
    expect(searchTerms('Ünïcödé 中文 42')).toEqual(['ünïcödé', '中文', '42']);
  });

  test('error: cursors round-trip and reject garbage', () => {
    expect(decodeSearchCursor(encodeSearchCursor(40))).toBe(40);
    for (const bad of [
      '',
      'nope',
      encodeSearchCursor(-1),
      Buffer.from('{"o":"3"}').toString('base64url'),
      Buffer.from('{"o":1.5}').toString('base64url'),
    ]) {
      expect(decodeSearchCursor(bad)).toBeUndefined();
    }
  });
});

runSearchSuite('SQLite (FTS5)', async () => {
  const dir = tempDir();
  return { db: openSqlite(join(dir, 'parley.db')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe.if(hasPostgres)('Postgres', () => {
  runSearchSuite('PostgreSQL (tsvector)', async () => {
    const database = await createTestDatabase();
    return { db: openPostgres(database.url), cleanup: database.drop };
  });

  test("happy: search's expressions are the GIN indexes' expressions", async () => {
    const database = await createTestDatabase();
    const db = openPostgres(database.url);
    try {
      await db.migrate();
      const plans = await db.transaction(async (tx) => {
        await db.raw(sql`SET LOCAL enable_seqscan = off`, tx);
        const plan = async (statement: ReturnType<typeof sql>) =>
          (await db.raw<{ 'QUERY PLAN': string }>(statement, tx)).map((row) => row['QUERY PLAN']).join('\n');
        return [
          await plan(sql`EXPLAIN SELECT m.id FROM messages m WHERE ${messageVector} @@ to_tsquery('simple', ${"'deplo':*"})`),
          await plan(sql`EXPLAIN SELECT c.id FROM chats c WHERE ${titleVector} @@ to_tsquery('simple', ${"'deplo':*"})`),
        ];
      });
      expect(plans[0]).toContain('messages_content_search_idx');
      expect(plans[1]).toContain('chats_title_search_idx');
    } finally {
      await db.close();
      await database.drop();
    }
  });
});

describe('SQLite migration', () => {
  test('happy: rows written before the search migration are indexed by its rebuild', async () => {
    const dir = tempDir();
    const path = join(dir, 'parley.db');
    try {
      const all = readMigrations('sqlite');
      const searchIndex = all.findIndex((m) => m.tag.endsWith('_fulltext_search'));
      expect(searchIndex).toBeGreaterThan(0);
      const client = new SqliteClient(path, { create: true });
      const orm = drizzle({ client }) as unknown as { dialect: { migrate: (...args: unknown[]) => void }; session: unknown };
      orm.dialect.migrate(all.slice(0, searchIndex), orm.session, { migrationsFolder: '' });
      client.run("INSERT INTO users (id, email) VALUES ('u1', 'u1@example.com')");
      client.run("INSERT INTO chats (id, user_id, title) VALUES ('c1', 'u1', 'Legacy lighthouse')");
      client.run("INSERT INTO messages (id, chat_id, role, content) VALUES ('m1', 'c1', 'user', 'an old albatross story')");
      client.close();

      const db = openSqlite(path);
      try {
        expect(await db.migrate()).toBe(all.length - searchIndex);
        expect(await db.migrate()).toBe(0);
        const search = createChatSearch(db);
        expect(await search.search('u1', 'albatross', { limit: 5 })).toEqual([
          { chatId: 'c1', matches: [{ messageId: 'm1', snippet: 'an old albatross story' }] },
        ]);
        expect(await search.search('u1', 'lighthouse', { limit: 5 })).toEqual([
          { chatId: 'c1', matches: [{ messageId: null, snippet: 'Legacy lighthouse' }] },
        ]);
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
