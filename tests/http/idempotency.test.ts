// "A request retried is not a new turn": Idempotency-Key on every POST that creates something
// (src/http/idempotency.ts), through the public HTTP API on every storage kind, and across two
// instances on one Postgres and Redis. A repeat gets the first result (a streamed reply resumed,
// after Last-Event-ID when sent), never a second chat, user message, reply or upstream call.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Redis from 'ioredis';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectStatus,
  getChat,
  httpOf,
  type Json,
  register,
  type Target,
  testEnv,
  uniqueText,
  waitUntil,
} from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { compareEventIds, deltaText, readSse, SseReader } from '../helpers/sse.ts';

const key = () => `key-${crypto.randomUUID()}`;
const withKey = (token: string, idempotencyKey: string, extra: Record<string, string> = {}) => ({
  ...bearer(token),
  'idempotency-key': idempotencyKey,
  ...extra,
});
const post = (target: Target, path: string, headers: Record<string, string>, json?: unknown) =>
  httpOf(target)(path, { method: 'POST', headers, ...(json === undefined ? {} : { json }) });
const messagesOf = (target: Target, token: string, chatId: string) => getChat(target, token, chatId).then((chat) => chat.messages);

/** Reads `count` events of a streamed reply, then drops the connection like a client that loses it. */
async function readThenDrop(response: Response, count: number) {
  expect(response.status).toBe(200);
  const reader = new SseReader(response);
  const events = await reader.read(count);
  await reader.cancel();
  return events;
}

let fake: FakeUpstream;
beforeAll(async () => {
  // `fake-slow` replies ~55 words, one every 8 ms: still streaming when a test drops and retries.
  fake = await startFakeUpstream({ slowChunkMs: 8 });
});
afterAll(() => fake.stop());

for (const [name, kind] of kinds) {
  describe(`Idempotency-Key on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake));
    });
    afterAll(() => app.close());

    const slowChat = async (token: string) => createChat(app, token, { provider: 'openai', model: 'fake-slow' });

    test('happy: POST /chats twice with one key creates one chat; the repeat is the first response, marked replayed', async () => {
      const user = await register(app);
      const idempotencyKey = key();
      const first = await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { title: 'once' });
      const firstBody = await expectStatus(first, 201);
      expect(first.headers.get('idempotency-replayed')).toBeNull();
      const again = await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { title: 'once' });
      expect(again.headers.get('idempotency-replayed')).toBe('true');
      expect(again.headers.get('content-type')).toStartWith('application/json');
      expect(again.headers.get('x-request-id')).toBeTruthy();
      expect(await expectStatus(again, 201)).toEqual(firstBody);
      const list = await expectStatus(await httpOf(app)('/api/v1/chats', { headers: bearer(user.accessToken) }), 200);
      expect(list.data.map((chat: Json) => chat.id)).toEqual([firstBody.id]);
      // Without a key, the same body is a new chat, as always.
      const fresh = await expectStatus(await post(app, '/api/v1/chats', bearer(user.accessToken), { title: 'once' }), 201);
      expect(fresh.id).not.toBe(firstBody.id);
    });

    test('happy: a streamed message dropped after 2 events and re-POSTed with the key and Last-Event-ID gets the rest of the same stream: one turn, one upstream call', async () => {
      const user = await register(app);
      const chat = await slowChat(user.accessToken);
      const text = uniqueText('dropped');
      const idempotencyKey = key();
      const path = `/api/v1/chats/${chat.id}/messages`;
      const seen = await readThenDrop(await post(app, path, withKey(user.accessToken, idempotencyKey), { content: text }), 2);
      expect(seen.map((event) => event.event)).toEqual(['start', 'delta']);

      const retry = await post(app, path, withKey(user.accessToken, idempotencyKey, { 'last-event-id': seen[1]!.id }), { content: text });
      expect(retry.headers.get('idempotency-replayed')).toBe('true');
      const rest = await readSse(retry);
      expect(rest.ended).toBe(true);
      expect(rest.events[0]!.event).toBe('delta');
      expect(compareEventIds(seen[1]!.id, rest.events[0]!.id)).toBeLessThan(0);
      const done = rest.events.at(-1)!;
      expect(done.event).toBe('done');
      expect(done.data.messageId).toBe(seen[0]!.data.messageId);

      const messages = await messagesOf(app, user.accessToken, chat.id);
      expect(messages.map((m: Json) => [m.role, m.id])).toEqual([
        ['user', seen[0]!.data.userMessageId],
        ['assistant', seen[0]!.data.messageId],
      ]);
      expect(messages[1]!.content).toBe(deltaText(seen) + rest.text);
      expect(upstreamCalls(fake, text)).toHaveLength(1);

      // Without Last-Event-ID, the repeat replays the whole stream from its start event.
      const whole = await readSse(await post(app, path, withKey(user.accessToken, idempotencyKey), { content: text }));
      expect(whole.events[0]).toEqual(seen[0]!);
      expect(whole.text).toBe(messages[1]!.content);
      expect(upstreamCalls(fake, text)).toHaveLength(1);
      expect(await messagesOf(app, user.accessToken, chat.id)).toHaveLength(2);
    });

    test('happy: stream:false repeated with the key answers the same {userMessage, assistantMessage}, also while the first still runs', async () => {
      const user = await register(app);
      const chat = await slowChat(user.accessToken);
      const text = uniqueText('json');
      const idempotencyKey = key();
      const path = `/api/v1/chats/${chat.id}/messages`;
      const body = { content: text, stream: false };
      const first = post(app, path, withKey(user.accessToken, idempotencyKey), body);
      await waitUntil(() => upstreamCalls(fake, text).length === 1, 'the first request upstream');
      // The first is still generating: the repeat waits for it rather than starting a second turn.
      const concurrent = await post(app, path, withKey(user.accessToken, idempotencyKey), body);
      const firstBody = await expectStatus(await first, 200);
      expect(concurrent.headers.get('idempotency-replayed')).toBe('true');
      expect(await expectStatus(concurrent, 200)).toEqual(firstBody);
      expect(firstBody.assistantMessage.status).toBe('complete');

      const later = await post(app, path, withKey(user.accessToken, idempotencyKey), body);
      const laterBody = await expectStatus(later, 200);
      expect([laterBody.userMessage.id, laterBody.assistantMessage.id]).toEqual([firstBody.userMessage.id, firstBody.assistantMessage.id]);
      expect(await messagesOf(app, user.accessToken, chat.id)).toHaveLength(2);
      expect(upstreamCalls(fake, text)).toHaveLength(1);
    });

    test('happy: regenerate repeated with the key replays the same new reply', async () => {
      const user = await register(app);
      const chat = await createChat(app, user.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const text = uniqueText('regen');
      const sent = await expectStatus(
        await post(app, `/api/v1/chats/${chat.id}/messages`, bearer(user.accessToken), { content: text, stream: false }),
        200,
      );
      const path = `/api/v1/chats/${chat.id}/messages/${sent.assistantMessage.id}/regenerate`;
      const idempotencyKey = key();
      const first = await readSse(await post(app, path, withKey(user.accessToken, idempotencyKey)));
      const again = await readSse(await post(app, path, withKey(user.accessToken, idempotencyKey)));
      expect(first.events.at(-1)!.event).toBe('done');
      expect(first.events[0]!.data.messageId).not.toBe(sent.assistantMessage.id);
      expect(again.events).toEqual(first.events);
      // One call for the message, one for the regenerated reply: the repeat made none.
      expect(upstreamCalls(fake, text)).toHaveLength(2);
    });

    test('error: the same key with another body (or another chat) is 422 naming header.idempotency-key, and creates nothing', async () => {
      const user = await register(app);
      const chat = await createChat(app, user.accessToken, { provider: 'echo', model: 'echo' });
      const idempotencyKey = key();
      const path = `/api/v1/chats/${chat.id}/messages`;
      await expectStatus(await post(app, path, withKey(user.accessToken, idempotencyKey), { content: 'first body', stream: false }), 200);
      const other = await post(app, path, withKey(user.accessToken, idempotencyKey), { content: 'another body', stream: false });
      const body = await expectStatus(other, 422, 'validation_error');
      expect(body.error.details).toEqual([{ field: 'header.idempotency-key', message: expect.any(String) }]);
      const otherChat = await createChat(app, user.accessToken, { provider: 'echo', model: 'echo' });
      await expectStatus(
        await post(app, `/api/v1/chats/${otherChat.id}/messages`, withKey(user.accessToken, idempotencyKey), {
          content: 'first body',
          stream: false,
        }),
        422,
        'validation_error',
      );
      expect(await messagesOf(app, user.accessToken, chat.id)).toHaveLength(2);
      expect(await messagesOf(app, user.accessToken, otherChat.id)).toHaveLength(0);
    });

    test('error: a key that is empty, longer than 255 or not printable ASCII is 422 naming header.idempotency-key', async () => {
      const user = await register(app);
      for (const bad of ['', 'x'.repeat(256), 'tab\there', 'caf\u00e9']) {
        const headers = new Headers(bearer(user.accessToken));
        headers.set('content-type', 'application/json');
        // Headers refuses a non-Latin-1 value; send its bytes as a raw client would.
        headers.set('idempotency-key', bad === 'caf\u00e9' ? 'caf\u00c3\u00a9' : bad);
        const response = await httpOf(app)('/api/v1/chats', { method: 'POST', headers, body: '{}' });
        const body = await expectStatus(response, 422, 'validation_error');
        expect(body.error.details[0].field).toBe('header.idempotency-key');
      }
      const ok = await post(app, '/api/v1/chats', withKey(user.accessToken, 'x'.repeat(255)), {});
      await expectStatus(ok, 201);
      const list = await expectStatus(await httpOf(app)('/api/v1/chats', { headers: bearer(user.accessToken) }), 200);
      expect(list.data).toHaveLength(1);
    });

    test('happy: a failure is not kept: after a 422 the same key runs again (here with a corrected body)', async () => {
      const user = await register(app);
      const idempotencyKey = key();
      // Refused by the service, after the key was claimed (the echo provider offers only `echo`).
      const refused = await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { provider: 'echo', model: 'nope' });
      await expectStatus(refused, 422, 'validation_error');
      const created = await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { title: 'corrected' });
      expect(created.headers.get('idempotency-replayed')).toBeNull();
      expect((await expectStatus(created, 201)).title).toBe('corrected');
    });

    test('security: another user with the same key gets a result of their own', async () => {
      const [alice, bob] = [await register(app), await register(app)];
      const idempotencyKey = key();
      const a = await expectStatus(await post(app, '/api/v1/chats', withKey(alice.accessToken, idempotencyKey), { title: 'same' }), 201);
      const response = await post(app, '/api/v1/chats', withKey(bob.accessToken, idempotencyKey), { title: 'same' });
      expect(response.headers.get('idempotency-replayed')).toBeNull();
      const b = await expectStatus(response, 201);
      expect(b.id).not.toBe(a.id);
      expect(b.userId ?? bob.userId).toBe(bob.userId);
      await expectStatus(await httpOf(app)(`/api/v1/chats/${a.id}`, { headers: bearer(bob.accessToken) }), 404);
    });

    test('security: an API key repeated with the key is 409 naming the key already made, and its secret is never kept in KV', async () => {
      const user = await register(app);
      const idempotencyKey = key();
      const first = await post(app, '/api/v1/auth/api-keys', withKey(user.accessToken, idempotencyKey), { name: 'ci' });
      const created = await expectStatus(first, 201);
      expect(created.key).toStartWith('pk_');
      const again = await post(app, '/api/v1/auth/api-keys', withKey(user.accessToken, idempotencyKey), { name: 'ci' });
      const body = await expectStatus(again, 409, 'conflict');
      expect(body.error.message).toContain(created.id);
      expect(body.error.details).toEqual({ id: created.id });
      expect(JSON.stringify(body)).not.toContain(created.key);
      const keys = await expectStatus(await httpOf(app)('/api/v1/auth/api-keys', { headers: bearer(user.accessToken) }), 200);
      expect(keys.data.map((k: Json) => k.id)).toEqual([created.id]);
      if (app.infra.kv.kind === 'redis') {
        const client = new Redis(redisUrl);
        try {
          const prefix = app.infra.config.redisKeyPrefix;
          const names = await client.keys(`${prefix}idempotency:*`);
          expect(names.length).toBeGreaterThan(0);
          for (const name of names) {
            if ((await client.type(name)) !== 'string') continue;
            expect(await client.get(name)).not.toContain(created.key);
          }
        } finally {
          client.disconnect();
        }
      }
    });

    test('happy: POST /streams and POST /chat/stream honour the key', async () => {
      const user = await register(app);
      const idempotencyKey = key();
      const a = await expectStatus(await post(app, '/api/v1/streams', withKey(user.accessToken, idempotencyKey), {}), 201);
      const b = await expectStatus(await post(app, '/api/v1/streams', withKey(user.accessToken, idempotencyKey), {}), 201);
      expect(b).toEqual(a);

      const text = uniqueText('stateless');
      const chatKey = key();
      const body = { message: text, provider: 'openai', model: 'gpt-4o-mini' };
      const first = await readSse(await post(app, '/api/v1/chat/stream', withKey(user.accessToken, chatKey), body));
      const again = await readSse(await post(app, '/api/v1/chat/stream', withKey(user.accessToken, chatKey), body));
      expect(again.events).toEqual(first.events);
      expect(upstreamCalls(fake, text)).toHaveLength(1);
    });

    test('happy: /v1/chat/completions repeated with the key returns the same completion, streamed byte for byte or as JSON', async () => {
      const user = await register(app);
      const text = uniqueText('completion');
      const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: text }] };
      const jsonKey = key();
      const first = await expectStatus(await post(app, '/v1/chat/completions', withKey(user.accessToken, jsonKey), body), 200);
      const again = await post(app, '/v1/chat/completions', withKey(user.accessToken, jsonKey), body);
      expect(again.headers.get('idempotency-replayed')).toBe('true');
      expect(await expectStatus(again, 200)).toEqual(first);

      const streamed = { ...body, stream: true, messages: [{ role: 'user', content: `${text} streamed` }] };
      const streamKey = key();
      const one = await post(app, '/v1/chat/completions', withKey(user.accessToken, streamKey), streamed);
      const oneText = await one.text();
      const two = await post(app, '/v1/chat/completions', withKey(user.accessToken, streamKey), streamed);
      expect(two.headers.get('idempotency-replayed')).toBe('true');
      expect(await two.text()).toBe(oneText);
      expect(oneText).toContain('data: [DONE]');
      expect(upstreamCalls(fake, text)).toHaveLength(1);
      expect(upstreamCalls(fake, `${text} streamed`)).toHaveLength(1);
    });

    test('happy: Last-Event-ID alone on a re-POST of the same message resumes that turn; an id of no such stream is a new turn', async () => {
      const user = await register(app);
      const chat = await slowChat(user.accessToken);
      const text = uniqueText('no-key');
      const path = `/api/v1/chats/${chat.id}/messages`;
      const seen = await readThenDrop(await post(app, path, bearer(user.accessToken), { content: text }), 3);
      const retry = await post(app, path, { ...bearer(user.accessToken), 'last-event-id': seen[2]!.id }, { content: text });
      expect(retry.headers.get('idempotency-replayed')).toBe('true');
      const rest = await readSse(retry);
      expect(rest.events.at(-1)!.data.messageId).toBe(seen[0]!.data.messageId);
      expect(compareEventIds(seen[2]!.id, rest.events[0]!.id)).toBeLessThan(0);
      expect(await messagesOf(app, user.accessToken, chat.id)).toHaveLength(2);
      expect(upstreamCalls(fake, text)).toHaveLength(1);

      // An event id that is not in that turn's stream cannot name the turn: the POST is new.
      const fresh = await readSse(await post(app, path, { ...bearer(user.accessToken), 'last-event-id': '1-0' }, { content: text }));
      expect(fresh.events[0]!.data.messageId).not.toBe(seen[0]!.data.messageId);
      expect(await messagesOf(app, user.accessToken, chat.id)).toHaveLength(4);
    });

    test('happy: the OpenAPI document gives every creating POST the Idempotency-Key header', async () => {
      const document = await expectStatus(await app.request('/swagger/json'), 200);
      const creating = [
        '/api/v1/chats',
        '/api/v1/chats/{id}/messages',
        '/api/v1/chats/{id}/messages/{messageId}/regenerate',
        '/api/v1/auth/api-keys',
        '/api/v1/streams',
        '/api/v1/chat',
        '/api/v1/chat/stream',
        '/v1/chat/completions',
      ];
      for (const path of creating) {
        const operation = document.paths[path]?.post;
        expect(operation ? path : `${path} is not documented`).toBe(path);
        const header = operation.parameters?.find((p: Json) => p.in === 'header' && p.name === 'idempotency-key');
        expect(header ? path : `${path} has no idempotency-key header`).toBe(path);
        expect(operation['x-idempotent']).toBeString();
      }
    });
  });
}

describe('Idempotency-Key: a first request still running', () => {
  let app: TestApp;
  let slowOllama: ReturnType<typeof Bun.serve>;
  beforeAll(async () => {
    // An Ollama that takes its time to list its models: creating a chat for it takes that long.
    slowOllama = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: async () => {
        await Bun.sleep(800);
        return Response.json({ models: [{ name: 'slow:latest' }] });
      },
    });
    app = await createTestApp(undefined, { ...testEnv, OLLAMA_BASE_URL: `http://127.0.0.1:${slowOllama.port}` });
  });
  afterAll(async () => {
    await app.close();
    slowOllama.stop(true);
  });

  test('error: a duplicate of a non-streaming POST while the first still runs is 409 conflict; after it, the first result', async () => {
    const user = await register(app);
    const idempotencyKey = key();
    const first = post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { provider: 'ollama' });
    await Bun.sleep(200);
    const duplicate = await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { provider: 'ollama' });
    expect(duplicate.headers.get('retry-after')).toBe('1');
    await expectStatus(duplicate, 409, 'conflict');
    const created = await expectStatus(await first, 201);
    const after = await expectStatus(
      await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { provider: 'ollama' }),
      201,
    );
    expect(after).toEqual(created);
  });
});

describe('Idempotency-Key: how long a key is kept', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, { ...testEnv, IDEMPOTENCY_TTL_SECONDS: '1' });
  });
  afterAll(() => app.close());

  test('happy: IDEMPOTENCY_TTL_SECONDS bounds it: after it, the same key creates anew', async () => {
    expect(app.infra.config.idempotencyTtlSeconds).toBe(1);
    const user = await register(app);
    const idempotencyKey = key();
    const a = await expectStatus(await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), {}), 201);
    const b = await expectStatus(await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), {}), 201);
    expect(b.id).toBe(a.id);
    await Bun.sleep(1100);
    const c = await expectStatus(await post(app, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), {}), 201);
    expect(c.id).not.toBe(a.id);
  });

  test('happy: the default is 24 h', async () => {
    const plain = await createTestApp(undefined, testEnv);
    try {
      expect(plain.infra.config.idempotencyTtlSeconds).toBe(86_400);
    } finally {
      await plain.close();
    }
  });
});

describe.if(hasPostgres && hasRedis)('Idempotency-Key across two instances on one Postgres and Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const database = await createTestDatabase();
    const redis = createTestRedisPrefix();
    const env = llmEnv(fake, {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      JWT_SECRET: 'shared-secret-for-both-instances-0123456789',
    });
    a = await createTestApp(undefined, env);
    b = await createTestApp(undefined, env);
    cleanup = async () => {
      await Promise.all([a?.close(), b?.close()]);
      await redis.cleanup();
      await database.drop();
    };
  });
  afterAll(() => cleanup?.());

  test('happy: a chat created on A with a key is the answer on B', async () => {
    expect([a.infra.kv.kind, b.infra.kv.kind]).toEqual(['redis', 'redis']);
    const user = await register(a);
    const idempotencyKey = key();
    const first = await expectStatus(await post(a, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { title: 'shared' }), 201);
    const repeat = await post(b, '/api/v1/chats', withKey(user.accessToken, idempotencyKey), { title: 'shared' });
    expect(repeat.headers.get('idempotency-replayed')).toBe('true');
    expect(await expectStatus(repeat, 201)).toEqual(first);
  });

  test('happy: a reply streamed by A, dropped, and re-POSTed on B with the key and Last-Event-ID continues on B: one turn, one upstream call', async () => {
    const user = await register(a);
    const chat = await createChat(a, user.accessToken, { provider: 'openai', model: 'fake-slow' });
    const text = uniqueText('across');
    const idempotencyKey = key();
    const path = `/api/v1/chats/${chat.id}/messages`;
    const seen = await readThenDrop(await post(a, path, withKey(user.accessToken, idempotencyKey), { content: text }), 2);
    const retry = await post(b, path, withKey(user.accessToken, idempotencyKey, { 'last-event-id': seen[1]!.id }), { content: text });
    expect(retry.headers.get('idempotency-replayed')).toBe('true');
    const rest = await readSse(retry);
    expect(rest.events.at(-1)!.event).toBe('done');
    const messages = await messagesOf(b, user.accessToken, chat.id);
    expect(messages.map((m: Json) => m.id)).toEqual([seen[0]!.data.userMessageId, seen[0]!.data.messageId]);
    expect(messages[1]!.content).toBe(deltaText(seen) + rest.text);
    expect(upstreamCalls(fake, text)).toHaveLength(1);
  });

  test('happy: a stream:false repeat on B while A still generates waits for A and answers the same messages', async () => {
    const user = await register(a);
    const chat = await createChat(a, user.accessToken, { provider: 'openai', model: 'fake-slow' });
    const text = uniqueText('across-json');
    const idempotencyKey = key();
    const path = `/api/v1/chats/${chat.id}/messages`;
    const body = { content: text, stream: false };
    const first = post(a, path, withKey(user.accessToken, idempotencyKey), body);
    await waitUntil(() => upstreamCalls(fake, text).length === 1, 'the first request upstream');
    const repeat = await post(b, path, withKey(user.accessToken, idempotencyKey), body);
    const firstBody = await expectStatus(await first, 200);
    expect(await expectStatus(repeat, 200)).toEqual(firstBody);
    expect(upstreamCalls(fake, text)).toHaveLength(1);
  });
});
