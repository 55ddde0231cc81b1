// GET /transcripts/:id reads through the two-layer cache, kept as long as the reader's tier
// allows (TRANSCRIPT_CACHE_TTL), and dropped on every instance by a change or a delete before
// that answers: never a stale read, on this instance or another that held the old copy in memory.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parseConfig } from '../../src/config/index.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  adminKey,
  adminPatchUser,
  bearer,
  createChat,
  expectError,
  expectStatus,
  guest,
  type Json,
  readJson,
  register,
  testEnv,
  waitUntil,
} from '../helpers/client.ts';
import { call, chatWithTurns, createTranscript, quickEcho, readTranscript, transcriptJson } from './support.ts';

/** This instance's counters of one cache namespace (undefined when it was never made). */
const namespace = async (app: TestApp, name: string): Promise<Json> =>
  (await readJson(await app.request('/api/v1/admin/cache/stats', { headers: { 'x-admin-key': adminKey } }))).namespaces[name];

for (const [name, kind] of kinds) {
  describe(`cached transcript reads on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ...quickEcho, TRANSCRIPT_CACHE_TTL: 'free=1,guest=0' });
    });
    afterAll(() => app.close());

    /** A pro account: its reads stay cached for an hour here, whatever the machine's speed. */
    const proAccount = async () => {
      const account = await register(app);
      await adminPatchUser(app, account.userId, { tier: 'pro' });
      return account;
    };

    test('happy: a repeated read is a cache hit in the reader’s tier; a PATCH or DELETE is seen at once', async () => {
      const { accessToken: token } = await proAccount();
      const { chat } = await chatWithTurns(app, token, 'Cached', ['hello cache']);
      const created = await createTranscript(app, token, { chatId: chat.id });
      await transcriptJson(app, token, created.id);
      const before = await namespace(app, 'transcripts-pro');
      expect(await transcriptJson(app, token, created.id)).toEqual(created);
      expect((await readTranscript(app, token, created.id, 'md')).status).toBe(200);
      const after = await namespace(app, 'transcripts-pro');
      expect(after.l1.hits - before.l1.hits).toBe(2);
      expect(after.loads).toBe(before.loads);

      await expectStatus(await call(app, token, 'PATCH', `/transcripts/${created.id}`, { title: 'Changed', tags: ['t'] }), 200);
      const read = await transcriptJson(app, token, created.id);
      expect(read).toMatchObject({ title: 'Changed', tags: ['t'] });
      expect(await (await readTranscript(app, token, created.id, 'txt')).text()).toStartWith('Changed\n');
      expect((await call(app, token, 'DELETE', `/transcripts/${created.id}`)).status).toBe(204);
      await expectError(await readTranscript(app, token, created.id), 404, 'not_found');
      await expectError(await readTranscript(app, token, created.id, 'md'), 404, 'not_found');
    });

    test('happy: the TTL follows the tier: free here expires after 1 s, pro keeps it, guests (0) are not cached', async () => {
      const free = await register(app);
      const pro = await proAccount();
      const ids: Record<string, string> = {};
      for (const [who, token] of [
        ['free', free.accessToken],
        ['pro', pro.accessToken],
      ] as const) {
        const { chat } = await chatWithTurns(app, token, who, ['tiers']);
        ids[who] = (await createTranscript(app, token, { chatId: chat.id })).id;
        await transcriptJson(app, token, ids[who]!);
      }
      const proLoads = (await namespace(app, 'transcripts-pro')).loads;
      const freeLoads = (await namespace(app, 'transcripts-free')).loads;
      // A free read loads again once its second has passed…
      await waitUntil(
        async () => {
          await transcriptJson(app, free.accessToken, ids.free!);
          return (await namespace(app, 'transcripts-free')).loads > freeLoads;
        },
        'the free tier’s copy to expire',
        10_000,
        100,
      );
      // …while the pro copy, older still, is read from the cache.
      await transcriptJson(app, pro.accessToken, ids.pro!);
      expect((await namespace(app, 'transcripts-pro')).loads).toBe(proLoads);

      const visitor = await guest(app);
      const chat = await createChat(app, visitor.accessToken, { provider: 'echo' });
      const created = await createTranscript(app, visitor.accessToken, { chatId: chat.id, title: 'guest' });
      expect(await transcriptJson(app, visitor.accessToken, created.id)).toEqual(created);
      expect(await transcriptJson(app, visitor.accessToken, created.id)).toEqual(created);
      expect(await namespace(app, 'transcripts-guest')).toBeUndefined();
    });

    test("security: a cached transcript is still another user's 404", async () => {
      const owner = await proAccount();
      const stranger = await proAccount();
      const { chat } = await chatWithTurns(app, owner.accessToken, 'Mine', ['mine']);
      const created = await createTranscript(app, owner.accessToken, { chatId: chat.id });
      await transcriptJson(app, owner.accessToken, created.id);
      const before = await namespace(app, 'transcripts-pro');
      await expectError(await readTranscript(app, stranger.accessToken, created.id), 404, 'not_found');
      // It was the cached copy that was refused: the check is on every read, not only on loads.
      expect((await namespace(app, 'transcripts-pro')).l1.hits).toBe(before.l1.hits + 1);
    });
  });
}

describe('TRANSCRIPT_CACHE_TTL', () => {
  test('happy: seconds by tier over the defaults (guest 60, free 300, pro and enterprise 3600); 0 turns a tier off', () => {
    const dataDir = `${process.env.TMPDIR ?? '/tmp'}/parley-transcript-ttl-${crypto.randomUUID()}`;
    expect(parseConfig({ DATA_DIR: dataDir }).transcriptCacheTtlSeconds).toEqual({ guest: 60, free: 300, pro: 3600, enterprise: 3600 });
    expect(parseConfig({ DATA_DIR: dataDir, TRANSCRIPT_CACHE_TTL: ' pro = 7200 , guest=0,' }).transcriptCacheTtlSeconds).toEqual({
      guest: 0,
      free: 300,
      pro: 7200,
      enterprise: 3600,
    });
  });
});

const twoInstances = kinds.find(([, kind]) => kind.database === 'postgres' && kind.kv === 'redis');
describe.skipIf(!twoInstances)('cached transcript reads across two instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp(twoInstances![1], { ...testEnv, ...quickEcho });
    b = await createSecondInstance(a, { ...testEnv, ...quickEcho });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('happy: a change or delete on one instance is read on the other at once, though it held the old copy in memory', async () => {
    const { accessToken: token } = await register(a);
    const { chat } = await chatWithTurns(a, token, 'Shared', ['across instances']);
    const created = await createTranscript(a, token, { chatId: chat.id });
    // B holds it in memory (the second read is an L1 hit there).
    expect(await transcriptJson(b, token, created.id)).toEqual(created);
    const before = await namespace(b, 'transcripts-free');
    expect(await transcriptJson(b, token, created.id)).toEqual(created);
    expect((await namespace(b, 'transcripts-free')).l1.hits).toBe(before.l1.hits + 1);
    await transcriptJson(a, token, created.id);

    await expectStatus(await call(a, token, 'PATCH', `/transcripts/${created.id}`, { title: 'Renamed on A', notes: 'from A' }), 200);
    expect(await transcriptJson(b, token, created.id)).toMatchObject({ title: 'Renamed on A', notes: 'from A' });
    const md = await readTranscript(b, token, created.id, 'md');
    expect(md.headers.get('content-disposition')).toBe('attachment; filename="Renamed on A.md"');

    await expectStatus(await call(b, token, 'PATCH', `/transcripts/${created.id}`, { tags: ['from-b'] }), 200);
    expect(await transcriptJson(a, token, created.id)).toMatchObject({ title: 'Renamed on A', tags: ['from-b'] });
    await transcriptJson(b, token, created.id);

    const removed = await b.request(`/api/v1/transcripts/${created.id}`, { method: 'DELETE', headers: bearer(token) });
    expect(removed.status).toBe(204);
    await expectError(await readTranscript(a, token, created.id), 404, 'not_found');
    await expectError(await readTranscript(a, token, created.id, 'txt'), 404, 'not_found');
    await expectError(await readTranscript(b, token, created.id), 404, 'not_found');
  });
});
