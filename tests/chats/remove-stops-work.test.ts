// Removing a thing stops its work (case #8 of ../shared/cases/2026-11-30-bug-reports.md):
// deleting a chat, or disabling its owner, cancels the replies still generating at once: the
// upstream request is aborted, the instance's generation gauge drops, and only what was produced
// is billed. Also when the reply runs on another instance than the one asked.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, createChat, expectStatus, register, sendMessage, uniqueText, waitUntil } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  // fake-slow: about 55 words, 50 ms apart (close to 3 s in all); a removal lands mid-reply.
  fake = await startFakeUpstream({ slowChunkMs: 50 });
});
afterAll(() => fake.stop());

/** Starts a slow reply on `app` and reads its start and a few deltas; returns what the test needs. */
async function startSlowReply(app: TestApp, token: string) {
  const chat = await createChat(app, token, { provider: 'openai', model: 'fake-slow' });
  const text = uniqueText('keep talking');
  const reader = new SseReader(await sendMessage(app, token, chat.id, { content: text }));
  const start = await reader.next();
  for (let i = 0; i < 3; i++) expect((await reader.next())?.event).toBe('delta');
  return { chat, text, reader, messageId: start!.data.messageId as string };
}

const outputTokens = async (app: TestApp, token: string) =>
  (await expectStatus(await app.request('/api/v1/users/me/usage', { headers: bearer(token) }), 200)).totals.outputTokens as number;

for (const [name, kind] of kinds) {
  describe(`removing stops work on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    test('happy: deleting a chat mid-reply aborts the upstream within 1 s, frees the generation, and bills only what was produced (case #8)', async () => {
      const user = await register(app);
      const { chat, text, reader } = await startSlowReply(app, user.accessToken);
      const response = await app.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(user.accessToken) });
      expect(response.status).toBe(204);
      const deletedAt = Date.now();
      const [call] = upstreamCalls(fake, text);
      await waitUntil(() => call?.aborted, 'the upstream request to be aborted', 1000);
      await waitUntil(() => app.services.replies.activeCount() === 0, 'parley_generations_active to be 0', 1000);
      expect(Date.now() - deletedAt).toBeLessThan(1000);
      await reader.cancel();
      const metrics = await (await app.request('/metrics')).text();
      expect(metrics).toMatch(/^parley_generations_active 0$/m);
      // About 55 words would have been billed had it run to the end.
      await waitUntil(async () => (await outputTokens(app, user.accessToken)) > 0, 'the partial usage to be recorded', 2000);
      expect(await outputTokens(app, user.accessToken)).toBeLessThan(40);
    });

    test('happy: disabling a user stops their running replies', async () => {
      const user = await register(app);
      const { text, reader } = await startSlowReply(app, user.accessToken);
      const patched = await app.request(`/api/v1/admin/users/${user.userId}`, {
        method: 'PATCH',
        headers: asAdmin,
        json: { disabled: true },
      });
      expect(patched.status).toBe(200);
      const [call] = upstreamCalls(fake, text);
      await waitUntil(() => call?.aborted, 'the upstream request to be aborted', 1000);
      await reader.cancel();
      await waitUntil(() => app.services.replies.activeCount() === 0, 'no generation left', 1000);
    });

    test('happy: deleting a chat without running replies stops nothing else', async () => {
      const [owner, other] = [await register(app), await register(app)];
      const running = await startSlowReply(app, other.accessToken);
      const idle = await createChat(app, owner.accessToken, { provider: 'echo' });
      expect((await app.request(`/api/v1/chats/${idle.id}`, { method: 'DELETE', headers: bearer(owner.accessToken) })).status).toBe(204);
      await Bun.sleep(150);
      const [call] = upstreamCalls(fake, running.text);
      expect(call?.aborted).toBeFalsy();
      await app.request(`/api/v1/chats/${running.chat.id}/messages/${running.messageId}/cancel`, {
        method: 'POST',
        headers: bearer(other.accessToken),
      });
      await running.reader.cancel();
    });
  });
}

describe.if(hasPostgres && hasRedis)('removing stops work across two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ database: 'postgres', kv: 'redis' }, llmEnv(fake));
    // B shares A's database and key prefix: the same service behind a load balancer.
    b = await createSecondInstance(a, llmEnv(fake));
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('happy: a chat deleted on B stops the reply A is generating', async () => {
    const user = await register(a);
    const { chat, text, reader } = await startSlowReply(a, user.accessToken);
    expect((await b.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(204);
    const [call] = upstreamCalls(fake, text);
    await waitUntil(() => call?.aborted, 'the upstream request on A to be aborted', 1000);
    await waitUntil(() => a.services.replies.activeCount() === 0, 'A to run no generation', 1000);
    await reader.cancel();
  });

  test('happy: a user disabled on B has their reply on A stopped', async () => {
    const user = await register(a);
    const { text, reader } = await startSlowReply(a, user.accessToken);
    const patched = await b.request(`/api/v1/admin/users/${user.userId}`, { method: 'PATCH', headers: asAdmin, json: { disabled: true } });
    expect(patched.status).toBe(200);
    const [call] = upstreamCalls(fake, text);
    await waitUntil(() => call?.aborted, 'the upstream request on A to be aborted', 1000);
    await reader.cancel();
  });
});
