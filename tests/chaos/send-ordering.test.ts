// A send is admitted while the KV answers, and the KV fails a moment later, after the question and
// the reply's row are stored but before the reply's stream buffer exists. Nothing will ever finish
// that row: it must be stored as `error` (the request answered 503), never left `streaming`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { KvUnavailableError } from '../../src/infra/kv/errors.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, getChat, type Json, register, sendMessage, testEnv } from '../helpers/client.ts';
import { expectNoUnhandled, expectUnavailable } from './outage.ts';

for (const [name, kind] of kinds) {
  describe(`a KV failing between storing a send and starting its reply, on ${name}`, () => {
    let t: TestApp;
    let user: Account;
    beforeAll(async () => {
      t = await createTestApp(kind, testEnv);
      user = await register(t);
    });
    afterAll(() => t?.close());

    /** Runs `work` with the KV refusing to create stream buffers, as if it dropped right then. */
    const withBufferCreationFailing = async <T>(work: () => Promise<T>): Promise<T> => {
      const kv = t.infra.kv;
      const set = kv.set;
      kv.set = async (key, value, options) => {
        if (key.startsWith('stream:') && key.endsWith(':meta')) throw new KvUnavailableError('set', 'connection lost (test)');
        return set.call(kv, key, value, options);
      };
      try {
        return await work();
      } finally {
        kv.set = set;
      }
    };

    for (const stream of [true, false]) {
      test(`error: the send answers 503 and its reply is stored as error, not streaming (stream: ${stream})`, async () => {
        const chat = await createChat(t, user.accessToken, { provider: 'echo', model: 'echo' });
        const response = await withBufferCreationFailing(() => sendMessage(t, user.accessToken, chat.id, { content: 'hello', stream }));
        await expectUnavailable(t, response, 'send');
        const messages = (await getChat(t, user.accessToken, chat.id)).messages;
        const reply = messages[1]!;
        expect(messages.map((m: Json) => [m.role, m.status])).toEqual([
          ['user', 'complete'],
          ['assistant', 'error'],
        ]);
        expect(reply.content).toBe('');

        // The failed reply can be regenerated once the KV is back.
        const again = await t.request(`/api/v1/chats/${chat.id}/messages/${reply.id}/regenerate`, {
          method: 'POST',
          headers: bearer(user.accessToken),
          json: { stream: false },
        });
        expect(again.status).toBe(200);
        expect(((await again.json()) as Json).assistantMessage.status).toBe('complete');
        expectNoUnhandled(t);
      });
    }
  });
}
