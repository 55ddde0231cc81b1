// Concurrent replies per tier (issue 12, "Cache and quotas" point 2): a reply holds a place while
// it generates, counted in the KV across instances; past the tier's limit a new reply is 429
// before anything is stored; a place is free again before the reply's last event, and frees itself
// when its holder dies (a lease that is no longer renewed).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Env } from '../../src/config/index.ts';
import { callerSubject } from '../../src/http/rate-limit.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  adminKey,
  adminPatchUser,
  createChat,
  expectError,
  getChat,
  rateLimit,
  register,
  sendJson,
  sendMessage,
  streamMessage,
  uniqueWords,
  waitUntil,
} from '../helpers/client.ts';

const env: Env = {
  ADMIN_API_KEY: adminKey,
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_MAX_REQUESTS: '10000',
  TIER_LIMITS_FREE: 'minute=1000,hour=0,day=0,concurrent=2',
  TIER_LIMITS_PRO: 'minute=1000,hour=0,day=0,concurrent=3',
  TIER_LIMITS_ENTERPRISE: 'minute=1000,hour=0,day=0,concurrent=1',
  // Echo answers word by word: a reply of 40 words runs for seconds.
  ECHO_DELAY_MS: '100',
  REPLY_HEARTBEAT_MS: '100',
};
const long = () => uniqueWords(40, 'slow');

/** Starts a streamed reply and leaves it running (the SSE body is dropped; the reply goes on detached). */
async function startReply(app: TestApp, token: string, chatId: string): Promise<Response> {
  const response = await sendMessage(app, token, chatId, { content: long() });
  if (response.status === 200) void response.body?.cancel();
  return response;
}

/** Ids of the chat's replies still generating. */
async function streamingReplies(app: TestApp, token: string, chatId: string): Promise<string[]> {
  const chat = await getChat(app, token, chatId);
  return chat.messages
    .filter((m: { role: string; status: string }) => m.role === 'assistant' && m.status === 'streaming')
    .map((m: { id: string }) => m.id);
}

for (const [name, kind] of kinds) {
  describe(`concurrent replies per tier on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, env);
    });
    afterAll(() => app.close());

    test('happy: the free tier holds 2 replies at once; a 3rd is 429 and stores nothing; a cancelled one frees its place', async () => {
      const account = await register(app);
      const chats = await Promise.all([1, 2, 3].map(() => createChat(app, account.accessToken)));
      expect((await startReply(app, account.accessToken, chats[0]!.id)).status).toBe(200);
      expect((await startReply(app, account.accessToken, chats[1]!.id)).status).toBe(200);
      const status = await rateLimit(app, account.accessToken);
      expect(status.concurrent).toEqual({ limit: 2, active: 2, remaining: 0 });

      const refused = await expectError(await startReply(app, account.accessToken, chats[2]!.id), 429, 'rate_limited');
      expect(refused.error.message).toContain('free tier');
      // Refused before anything was stored: no unanswered question in the third chat.
      expect((await getChat(app, account.accessToken, chats[2]!.id)).messages).toEqual([]);

      const [running] = await streamingReplies(app, account.accessToken, chats[0]!.id);
      await app.services.replies.cancel(running!);
      await waitUntil(
        async () => (await rateLimit(app, account.accessToken)).concurrent.active === 1,
        'the cancelled reply to free its place',
      );
      expect((await startReply(app, account.accessToken, chats[2]!.id)).status).toBe(200);
      await app.services.replies.cancelUser(account.userId);
    });

    test('happy: a place is free before the last event: a client that saw `done` may send again at once', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      // One reply at a time.
      await adminPatchUser(app, account.userId, { tier: 'enterprise' });
      for (let i = 0; i < 3; i++) {
        const reply = await streamMessage(app, account.accessToken, chat.id, { content: `quick ${i}` });
        expect(reply.done).toBeDefined();
        await sendJson(app, account.accessToken, chat.id, { content: `again ${i}` });
      }
      expect((await rateLimit(app, account.accessToken)).concurrent.active).toBe(0);
    });

    test('happy: an admin tier change applies to the next reply (pro holds 3)', async () => {
      const account = await register(app);
      const chats = await Promise.all([1, 2, 3, 4].map(() => createChat(app, account.accessToken)));
      await adminPatchUser(app, account.userId, { tier: 'pro' });
      for (const chat of chats.slice(0, 3)) expect((await startReply(app, account.accessToken, chat.id)).status).toBe(200);
      await expectError(await startReply(app, account.accessToken, chats[3]!.id), 429, 'rate_limited');
      expect((await rateLimit(app, account.accessToken)).concurrent).toEqual({ limit: 3, active: 3, remaining: 0 });
      await app.services.replies.cancelUser(account.userId);
    });

    test('security: the place of a holder that died (its lease no longer renewed) frees itself within a few heartbeats', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken);
      const key = `replies:active:${callerSubject({ id: account.userId, role: 'user' }, '127.0.0.1')}`;
      // Two places taken by an instance that then died: nobody renews them.
      for (const ghost of ['ghost-1', 'ghost-2']) await app.infra.kv.acquireLease(key, ghost, { limit: 0, ttlMs: 300 });
      await expectError(await startReply(app, account.accessToken, chat.id), 429, 'rate_limited');
      await Bun.sleep(350);
      expect((await startReply(app, account.accessToken, chat.id)).status).toBe(200);
      await app.services.replies.cancelUser(account.userId);
    });

    if (kind.kv === 'redis') {
      test('happy: places are counted across instances', async () => {
        const other = await createSecondInstance(app, env);
        try {
          const account = await register(app);
          const chats = await Promise.all([1, 2, 3].map(() => createChat(app, account.accessToken)));
          expect((await startReply(app, account.accessToken, chats[0]!.id)).status).toBe(200);
          expect((await startReply(other, account.accessToken, chats[1]!.id)).status).toBe(200);
          await expectError(await startReply(other, account.accessToken, chats[2]!.id), 429, 'rate_limited');
          await expectError(await startReply(app, account.accessToken, chats[2]!.id), 429, 'rate_limited');
          await app.services.replies.cancelUser(account.userId);
          await waitUntil(async () => (await rateLimit(other, account.accessToken)).concurrent.active === 0, 'both places to be free');
        } finally {
          await other.close();
        }
      });
    }
  });
}
