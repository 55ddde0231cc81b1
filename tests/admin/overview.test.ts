// GET /admin/overview after known activity on a fresh database: users by role, tier and day,
// chats and messages, usage by day, model and provider (with ?days= cutting the period), storage
// by user, live replies and websockets, and the queue depth a composition may add. Also admins
// reading any user's usage (GET /admin/users/:id/usage). On every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, createServices } from '../../src/app.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  adminPatchUser,
  asAdmin,
  bearer,
  createApiKey,
  createChat,
  expectError,
  expectStatus,
  guest,
  type Json,
  register,
  sendJson,
  sendMessage,
  testEnv,
  waitUntil,
} from '../helpers/client.ts';
import { SseReader } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';

const day = (offset = 0) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

for (const [name, kind] of kinds) {
  describe(`admin overview on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
    });
    afterAll(() => app.close());

    const overview = async (query = ''): Promise<Json> =>
      expectStatus(await app.request(`/api/v1/admin/overview${query}`, { headers: asAdmin }), 200);

    test('happy: the figures match what was done: users, chats, messages, usage, storage', async () => {
      const empty = await overview();
      expect(empty.users).toMatchObject({ total: 0, disabled: 0, active: 0 });
      expect(empty.storage).toEqual({ bytes: 0, files: 0, topUsers: [] });
      expect(empty.queue).toEqual({ depth: 0 });

      const alice = await register(app);
      const bob = await register(app);
      const boss = await register(app);
      await guest(app);
      await adminPatchUser(app, alice.userId, { tier: 'pro' });
      await adminPatchUser(app, boss.userId, { role: 'admin', tier: 'enterprise' });
      await adminPatchUser(app, bob.userId, { disabled: true });

      const chats = [
        await createChat(app, alice.accessToken),
        await createChat(app, alice.accessToken),
        await createChat(app, boss.accessToken),
      ];
      await expectStatus(
        await app.request(`/api/v1/chats/${chats[2]!.id}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: true } }),
        200,
      );
      await sendJson(app, alice.accessToken, chats[0]!.id, { content: 'one two three', provider: 'echo' });
      await sendJson(app, alice.accessToken, chats[1]!.id, { content: 'four five', provider: 'echo' });
      await sendJson(app, boss.accessToken, chats[2]!.id, { content: 'six', provider: 'echo' });
      // Usage three days ago, written by the users service as a finished reply writes it.
      await app.services.users.recordUsage(
        alice.userId,
        { provider: 'openai', model: 'gpt-x', inputTokens: 100, outputTokens: 50 },
        new Date(Date.now() - 3 * 86_400_000),
      );

      const { files } = app.infra.db.tables;
      const file = (userId: string, size: number) => ({
        id: crypto.randomUUID(),
        userId,
        name: 'a.txt',
        contentType: 'text/plain',
        size,
        sha256: '0'.repeat(64),
        storageKey: crypto.randomUUID(),
      });
      await app.infra.db.run((q) => q.insert(files).values([file(alice.userId, 100), file(alice.userId, 200), file(boss.userId, 1000)]));

      const figures = await overview();
      expect(figures.from).toBe(day(-29));
      expect(figures.to).toBe(day());
      expect(figures.users).toMatchObject({
        total: 4,
        disabled: 1,
        byRole: { guest: 1, user: 2, admin: 1 },
        byTier: { free: 2, pro: 1, enterprise: 1 },
        active: 2,
      });
      expect(figures.users.newByDay).toHaveLength(30);
      expect(figures.users.newByDay.at(-1)).toEqual({ day: day(), count: 4 });
      expect(figures.users.newByDay.slice(0, -1).every((d: Json) => d.count === 0)).toBe(true);
      expect(figures.chats).toEqual({ total: 3, featured: 1 });
      expect(figures.messages).toEqual({ total: 6, streaming: 0 });

      // The users' own usage pages add up to the overview's.
      const own = await Promise.all(
        [alice, boss].map(async (account) =>
          expectStatus(await app.request('/api/v1/users/me/usage', { headers: bearer(account.accessToken) }), 200),
        ),
      );
      const echoTokens = own.reduce(
        (sum, usage) =>
          sum +
          usage.byModel.filter((m: Json) => m.provider === 'echo').reduce((s: number, m: Json) => s + m.inputTokens + m.outputTokens, 0),
        0,
      );
      expect(figures.usage.totals.requests).toBe(4);
      expect(figures.usage.totals.inputTokens + figures.usage.totals.outputTokens).toBe(echoTokens + 150);
      expect(figures.usage.byDay).toHaveLength(30);
      expect(figures.usage.byDay.at(-1)).toMatchObject({ day: day(), requests: 3 });
      expect(figures.usage.byDay.at(-4)).toEqual({ day: day(-3), requests: 1, inputTokens: 100, outputTokens: 50 });
      expect(figures.usage.byProvider.map((p: Json) => [p.provider, p.requests])).toEqual(
        expect.arrayContaining([
          ['echo', 3],
          ['openai', 1],
        ]),
      );
      expect(figures.usage.byModel).toContainEqual({ provider: 'openai', model: 'gpt-x', requests: 1, inputTokens: 100, outputTokens: 50 });

      expect(figures.storage).toEqual({
        bytes: 1300,
        files: 3,
        topUsers: [
          { userId: boss.userId, email: boss.email, bytes: 1000, files: 1 },
          { userId: alice.userId, email: alice.email, bytes: 300, files: 2 },
        ],
      });
      expect((await overview('?top=1')).storage.topUsers.map((u: Json) => u.userId)).toEqual([boss.userId]);

      // Two days leave out the usage of three days ago and the users active only then.
      const recent = await overview('?days=2');
      expect(recent.from).toBe(day(-1));
      expect(recent.usage.byDay.map((d: Json) => d.day)).toEqual([day(-1), day()]);
      expect(recent.usage.totals.requests).toBe(3);
      expect(recent.usage.byProvider.map((p: Json) => p.provider)).toEqual(['echo']);
      expect(recent.users.newByDay).toEqual([
        { day: day(-1), count: 0 },
        { day: day(), count: 4 },
      ]);
    });

    test('happy: an admin reads any user’s usage as that user sees it', async () => {
      const user = await register(app);
      const chat = await createChat(app, user.accessToken);
      await sendJson(app, user.accessToken, chat.id, { content: 'count this please', provider: 'echo' });
      const own = await expectStatus(await app.request('/api/v1/users/me/usage?days=7', { headers: bearer(user.accessToken) }), 200);
      const admin = await register(app);
      await adminPatchUser(app, admin.userId, { role: 'admin' });
      for (const headers of [asAdmin, bearer(admin.accessToken)]) {
        const read = await expectStatus(await app.request(`/api/v1/admin/users/${user.userId}/usage?days=7`, { headers }), 200);
        expect(read).toEqual(own);
        expect(read.totals.requests).toBe(1);
      }
      const fresh = await register(app);
      expect(
        (await expectStatus(await app.request(`/api/v1/admin/users/${fresh.userId}/usage`, { headers: asAdmin }), 200)).totals,
      ).toEqual({
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
      });
    });

    test('error: an unknown user is 404; days and top out of range are 422', async () => {
      await expectError(await app.request(`/api/v1/admin/users/${crypto.randomUUID()}/usage`, { headers: asAdmin }), 404, 'not_found');
      for (const query of ['?days=0', '?days=367', '?days=x', '?top=0', '?top=101']) {
        await expectError(await app.request(`/api/v1/admin/overview${query}`, { headers: asAdmin }), 422, 'validation_error');
      }
      await expectError(
        await app.request(`/api/v1/admin/users/${crypto.randomUUID()}/usage?days=0`, { headers: asAdmin }),
        422,
        'validation_error',
      );
    });

    test('security: overview and a user’s usage are 401 without credentials, 403 for a user (even for their own usage), a guest and an API key', async () => {
      const user = await register(app);
      const key = await createApiKey(app, user.accessToken);
      const visitor = await guest(app);
      const paths = ['/api/v1/admin/overview', `/api/v1/admin/users/${user.userId}/usage`];
      for (const path of paths) {
        await expectError(await app.request(path), 401, 'unauthorized');
        for (const credential of [user.accessToken, key.key, visitor.accessToken]) {
          await expectError(await app.request(path, { headers: bearer(credential) }), 403, 'forbidden');
        }
      }
    });
  });
}

for (const [name, kind] of kinds) {
  describe(`admin overview: live figures on ${name}`, () => {
    let app: TestApp;
    let base: string;
    beforeAll(async () => {
      // Slow enough that a reply of 200 words is still generating while the test looks.
      app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '50' });
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      base = `127.0.0.1:${app.app.server!.port}`;
    });
    afterAll(async () => {
      await app.app.stop(true);
      await app.close();
    });

    const live = async () => (await expectStatus(await app.request('/api/v1/admin/overview', { headers: asAdmin }), 200)).live;

    test('happy: a reply generating and an open websocket are counted, and no longer once they end', async () => {
      expect(await live()).toEqual({ replies: { instance: 0, cluster: 0 }, websockets: { instance: 0 } });
      const user = await register(app);
      const socket = await WsClient.ready(`ws://${base}/api/v1/ws`, user.accessToken);
      const chat = await createChat(app, user.accessToken);
      const words = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
      const reader = new SseReader(await sendMessage(app, user.accessToken, chat.id, { content: words, provider: 'echo' }));
      const start = await reader.next();
      expect(start?.event).toBe('start');

      const during = await live();
      expect(during).toEqual({ replies: { instance: 1, cluster: 1 }, websockets: { instance: 1 } });
      const messages = (await expectStatus(await app.request('/api/v1/admin/overview', { headers: asAdmin }), 200)).messages;
      expect(messages.streaming).toBe(1);

      await expectStatus(
        await app.request(`/api/v1/chats/${chat.id}/messages/${start!.data.messageId}/cancel`, {
          method: 'POST',
          headers: bearer(user.accessToken),
        }),
        202,
      );
      socket.ws.close();
      await socket.closed;
      await waitUntil(
        async () => {
          const after = await live();
          return after.replies.instance === 0 && after.replies.cluster === 0 && after.websockets.instance === 0;
        },
        'the reply and the socket to end',
        10_000,
      );
      await reader.cancel();
    });

    test.if(kind.kv === 'redis')('happy: another instance counts the reply in the cluster figure, not in its own', async () => {
      const second = await createSecondInstance(app, { ...testEnv, ECHO_DELAY_MS: '50' });
      try {
        const user = await register(app);
        const chat = await createChat(app, user.accessToken);
        const words = Array.from({ length: 200 }, (_, i) => `v${i}`).join(' ');
        const reader = new SseReader(await sendMessage(app, user.accessToken, chat.id, { content: words, provider: 'echo' }));
        const start = await reader.next();
        const elsewhere = (await expectStatus(await second.request('/api/v1/admin/overview', { headers: asAdmin }), 200)).live;
        expect(elsewhere.replies).toEqual({ instance: 0, cluster: 1 });
        await expectStatus(
          await app.request(`/api/v1/chats/${chat.id}/messages/${start!.data.messageId}/cancel`, {
            method: 'POST',
            headers: bearer(user.accessToken),
          }),
          202,
        );
        await waitUntil(async () => (await live()).replies.cluster === 0, 'the reply to end', 10_000);
        await reader.cancel();
      } finally {
        await second.close();
      }
    });

    test('happy: a queue depth given by the composition is reported; without one it is the pipelines queue’s waiting count', async () => {
      const services = createServices(app.infra, { queueDepth: async () => 7 });
      try {
        const withQueue = createApp(app.infra, services);
        const response = await withQueue.handle(new Request('http://localhost/api/v1/admin/overview', { headers: asAdmin }));
        expect((await expectStatus(response, 200)).queue).toEqual({ depth: 7 });
      } finally {
        await services.close();
      }
      expect((await expectStatus(await app.request('/api/v1/admin/overview', { headers: asAdmin }), 200)).queue).toEqual({ depth: 0 });
    });
  });
}
