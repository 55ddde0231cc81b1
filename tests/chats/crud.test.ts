// Chats as resources: create, list (cursor, filters), read, update, delete; ownership (another
// user's chat does not exist for you), categories, stats, featured chats and full-text search.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, createChat, expectError, getChat, readJson, register, sendJson, uniqueText } from '../helpers/client.ts';
import { llmEnv } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const chatKeys = [
  'archived',
  'category',
  'createdAt',
  'featured',
  'id',
  'model',
  'pinned',
  'provider',
  'systemPrompt',
  'title',
  'toolChoice',
  'tools',
  'updatedAt',
];
const idsOf = (page: { data: { id: string }[] }) => page.data.map((chat) => chat.id);

for (const [name, kind] of kinds) {
  describe(`chats CRUD on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake, { DEFAULT_PROVIDER: 'echo' }));
    });
    afterAll(() => app.close());

    const list = async (token: string, query = '') => {
      const response = await app.request(`/api/v1/chats${query}`, { headers: bearer(token) });
      expect(response.status).toBe(200);
      return readJson(response);
    };
    const patch = (token: string, chatId: string, json: unknown) =>
      app.request(`/api/v1/chats/${chatId}`, { method: 'PATCH', headers: bearer(token), json });

    test('happy: POST /chats is 201 with the chat', async () => {
      const account = await register(app);
      const response = await app.request('/api/v1/chats', {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { title: 'Trip', provider: 'openai', model: 'gpt-4.1', systemPrompt: 'Be brief', category: 'travel' },
      });
      expect(response.status).toBe(201);
      const chat = await readJson(response);
      expect(Object.keys(chat).sort()).toEqual(chatKeys);
      expect(chat).toMatchObject({
        title: 'Trip',
        provider: 'openai',
        model: 'gpt-4.1',
        systemPrompt: 'Be brief',
        category: 'travel',
        pinned: false,
        archived: false,
        featured: false,
      });
      expect(Number.isNaN(Date.parse(chat.createdAt))).toBe(false);
      const empty = await createChat(app, account.accessToken);
      expect(empty).toMatchObject({ title: null, provider: null, model: null, systemPrompt: null, category: null });
      await expectError(
        await app.request('/api/v1/chats', { method: 'POST', headers: bearer(account.accessToken), json: { provider: 'mistral' } }),
        422,
        'validation_error',
      );
      await expectError(
        await app.request('/api/v1/chats', {
          method: 'POST',
          headers: bearer(account.accessToken),
          json: { provider: 'echo', model: 'x' },
        }),
        422,
        'validation_error',
      );
    });

    test('happy: GET /chats pages with a cursor, pinned first, without repeats', async () => {
      const account = await register(app);
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push((await createChat(app, account.accessToken, { title: `Chat ${i}` })).id);
      expect((await patch(account.accessToken, created[0]!, { pinned: true })).status).toBe(200);
      const seen: string[] = [];
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const page = await list(account.accessToken, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.data.length).toBeLessThanOrEqual(2);
        pages.push(idsOf(page));
        seen.push(...idsOf(page));
        cursor = page.nextCursor;
      } while (cursor && pages.length < 10);
      expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
      expect(new Set(seen).size).toBe(5);
      expect([...seen].sort()).toEqual([...created].sort());
      // Pinned first, then newest first.
      expect(seen).toEqual([created[0]!, ...created.slice(1).reverse()]);
      await expectError(
        await app.request('/api/v1/chats?cursor=nonsense', { headers: bearer(account.accessToken) }),
        422,
        'validation_error',
      );
    });

    test('happy: ?q filters by title, ?category by category, ?archived shows only archived chats', async () => {
      const account = await register(app);
      const word = `Kiwi${Math.random().toString(36).slice(2, 8)}`;
      const kiwi = await createChat(app, account.accessToken, { title: `About ${word} farming`, category: 'work' });
      const other = await createChat(app, account.accessToken, { title: 'Something else', category: 'home' });
      const hidden = await createChat(app, account.accessToken, { title: `${word} archive`, category: 'work' });
      expect((await patch(account.accessToken, hidden.id, { archived: true })).status).toBe(200);

      expect(idsOf(await list(account.accessToken, `?q=${word.toLowerCase()}`))).toEqual([kiwi.id]);
      expect(idsOf(await list(account.accessToken, '?category=home'))).toEqual([other.id]);
      expect(idsOf(await list(account.accessToken, '?category=work'))).toEqual([kiwi.id]);
      expect(idsOf(await list(account.accessToken))).toEqual([other.id, kiwi.id]);
      expect(idsOf(await list(account.accessToken, '?archived=true'))).toEqual([hidden.id]);
      expect(idsOf(await list(account.accessToken, `?archived=true&q=${word}`))).toEqual([hidden.id]);
      expect(idsOf(await list(account.accessToken, '?q=100%25'))).toEqual([]);
      expect(idsOf(await list(account.accessToken, '?archived=false'))).toEqual([other.id, kiwi.id]);
      expect(idsOf(await list(account.accessToken, '?category=none'))).toEqual([]);
      for (const query of ['?limit=0', '?limit=101', '?archived=maybe']) {
        await expectError(await app.request(`/api/v1/chats${query}`, { headers: bearer(account.accessToken) }), 422, 'validation_error');
      }
    });

    test('happy: GET /chats/:id has the messages; PATCH changes fields; DELETE is 204 then 404', async () => {
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { title: 'Before' });
      const sent = await sendJson(app, account.accessToken, chat.id, { content: 'hello there' });
      const read = await getChat(app, account.accessToken, chat.id);
      expect(read).toMatchObject({ id: chat.id, title: 'Before' });
      expect(read.messages).toEqual([sent.userMessage, sent.assistantMessage]);

      const changes = {
        title: 'After',
        pinned: true,
        archived: true,
        systemPrompt: 'Answer in French',
        category: 'lang',
        provider: 'openai',
        model: 'gpt-4o-mini',
      };
      const response = await patch(account.accessToken, chat.id, changes);
      expect(response.status).toBe(200);
      expect(await readJson(response)).toMatchObject(changes);
      expect(await getChat(app, account.accessToken, chat.id)).toMatchObject(changes);
      expect((await readJson(await patch(account.accessToken, chat.id, { systemPrompt: null, archived: false }))).systemPrompt).toBeNull();

      await expectError(await patch(account.accessToken, chat.id, { provider: 'mistral' }), 422, 'validation_error');
      await expectError(await patch(account.accessToken, chat.id, { provider: 'echo', model: 'x' }), 422, 'validation_error');
      await expectError(await patch(account.accessToken, chat.id, {}), 422, 'validation_error');
      await expectError(await patch(account.accessToken, chat.id, { featured: true }), 422, 'validation_error');
      expect(await getChat(app, account.accessToken, chat.id)).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', featured: false });

      const deleted = await app.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(account.accessToken) });
      expect(deleted.status).toBe(204);
      await expectError(await app.request(`/api/v1/chats/${chat.id}`, { headers: bearer(account.accessToken) }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/chats/${chat.id}`, { method: 'DELETE', headers: bearer(account.accessToken) }),
        404,
        'not_found',
      );
      await expectError(await app.request(`/api/v1/chats/${chat.id}/messages`, { headers: bearer(account.accessToken) }), 404, 'not_found');
    });

    test("error: PATCH {provider} alone drops the old provider's model, so the chat can still answer", async () => {
      // The update is validated as if the model were cleared, but the old model is stored with the
      // new provider, and every later message is then refused with 422 (see the report).
      const account = await register(app);
      const chat = await createChat(app, account.accessToken, { provider: 'openai', model: 'gpt-4o-mini' });
      const response = await patch(account.accessToken, chat.id, { provider: 'echo' });
      expect(response.status).toBe(200);
      const patched = await readJson(response);
      expect(patched.provider).toBe('echo');
      expect(patched.model ?? 'echo').toBe('echo');
      const sent = await app.request(`/api/v1/chats/${chat.id}/messages`, {
        method: 'POST',
        headers: bearer(account.accessToken),
        json: { content: 'still here', stream: false },
      });
      expect(sent.status).toBe(200);
      expect((await readJson(sent)).assistantMessage).toMatchObject({ provider: 'echo', model: 'echo', content: 'still here' });
    });

    test("security: another user's chat is 404 on every chat route, and stays untouched", async () => {
      const owner = await register(app);
      const intruder = await register(app);
      const chat = await createChat(app, owner.accessToken, { title: 'Private' });
      const sent = await sendJson(app, owner.accessToken, chat.id, { content: 'secret words' });
      const base = `/api/v1/chats/${chat.id}`;
      const routes: [string, string, unknown?][] = [
        ['GET', base],
        ['PATCH', base, { title: 'Mine now' }],
        ['DELETE', base],
        ['GET', `${base}/messages`],
        ['POST', `${base}/messages`, { content: 'hi', stream: false }],
        ['POST', `${base}/messages/${sent.assistantMessage.id}/regenerate`, { stream: false }],
        ['POST', `${base}/messages/${sent.assistantMessage.id}/cancel`],
      ];
      for (const [method, path, json] of routes) {
        const response = await app.request(path, {
          method,
          headers: bearer(intruder.accessToken),
          ...(json === undefined ? {} : { json }),
        });
        const body = await expectError(response, 404, 'not_found');
        expect(JSON.stringify(body)).not.toContain('secret');
      }
      const after = await getChat(app, owner.accessToken, chat.id);
      expect(after.title).toBe('Private');
      expect(after.messages).toHaveLength(2);
      expect(idsOf(await list(intruder.accessToken))).toEqual([]);
    });

    test('security: every chat route but the public ones is 401 without credentials', async () => {
      const owner = await register(app);
      const chat = await createChat(app, owner.accessToken);
      const base = `/api/v1/chats/${chat.id}`;
      const routes: [string, string, unknown?][] = [
        ['GET', '/api/v1/chats'],
        ['POST', '/api/v1/chats', {}],
        ['GET', '/api/v1/chats/search?q=hello'],
        ['GET', '/api/v1/chats/stats'],
        ['GET', '/api/v1/chats/categories'],
        ['PATCH', base, { title: 'x' }],
        ['DELETE', base],
        ['GET', `${base}/messages`],
        ['POST', `${base}/messages`, { content: 'hi' }],
        ['POST', `${base}/messages/${Bun.randomUUIDv7()}/regenerate`, {}],
        ['POST', `${base}/messages/${Bun.randomUUIDv7()}/cancel`],
      ];
      for (const [method, path, json] of routes) {
        await expectError(await app.request(path, { method, ...(json === undefined ? {} : { json }) }), 401, 'unauthorized');
        await expectError(
          await app.request(path, { method, headers: bearer('not-a-token'), ...(json === undefined ? {} : { json }) }),
          401,
          'unauthorized',
        );
      }
      // Not featured: anonymous readers get 404, not a hint that it exists.
      await expectError(await app.request(base), 404, 'not_found');
    });

    test("happy: GET /chats/categories counts the caller's chats per category; GET /chats/stats sums them", async () => {
      const account = await register(app);
      for (const category of ['work', 'work', 'home']) await createChat(app, account.accessToken, { category });
      const chat = await createChat(app, account.accessToken);
      await sendJson(app, account.accessToken, chat.id, { content: 'one two three' });
      const stranger = await register(app);
      await createChat(app, stranger.accessToken, { category: 'work' });

      const categories = await readJson(await app.request('/api/v1/chats/categories', { headers: bearer(account.accessToken) }));
      expect(categories).toEqual({
        data: [
          { category: 'work', count: 2 },
          { category: 'home', count: 1 },
        ],
      });

      const stats = await readJson(await app.request('/api/v1/chats/stats', { headers: bearer(account.accessToken) }));
      const usage = (await getChat(app, account.accessToken, chat.id)).messages[1]?.usage;
      if (!usage) throw new Error('the reply has no usage');
      expect(stats).toEqual({
        chats: 4,
        messages: 2,
        tokens: { input: usage.inputTokens, output: usage.outputTokens },
        byModel: [{ provider: 'echo', model: 'echo', messages: 1, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens }],
      });
      expect(usage.outputTokens).toBe(3);
    });

    test('happy: an admin features a chat: it is listed and readable without auth; others stay 404', async () => {
      const owner = await register(app);
      const stranger = await register(app);
      const shown = await createChat(app, owner.accessToken, { title: 'Showcase' });
      await sendJson(app, owner.accessToken, shown.id, { content: 'public words' });
      const kept = await createChat(app, owner.accessToken, { title: 'Kept private' });

      await expectError(
        await app.request(`/api/v1/chats/${shown.id}/featured`, {
          method: 'PATCH',
          headers: bearer(owner.accessToken),
          json: { featured: true },
        }),
        403,
        'forbidden',
      );
      await expectError(
        await app.request(`/api/v1/chats/${shown.id}/featured`, { method: 'PATCH', json: { featured: true } }),
        401,
        'unauthorized',
      );
      await expectError(
        await app.request(`/api/v1/chats/${Bun.randomUUIDv7()}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: true } }),
        404,
        'not_found',
      );
      const featured = await app.request(`/api/v1/chats/${shown.id}/featured`, {
        method: 'PATCH',
        headers: asAdmin,
        json: { featured: true },
      });
      expect(featured.status).toBe(200);
      expect(await readJson(featured)).toMatchObject({ id: shown.id, featured: true });

      const publicList = await app.request('/api/v1/chats/featured');
      expect(publicList.status).toBe(200);
      const listed = idsOf(await readJson(publicList));
      expect(listed).toContain(shown.id);
      expect(listed).not.toContain(kept.id);
      const anonymous = await getChat(app, null, shown.id);
      expect(anonymous).toMatchObject({ id: shown.id, title: 'Showcase', featured: true });
      expect(anonymous.messages.map((m: { content: string }) => m.content)).toEqual(['public words', 'public words']);
      expect((await getChat(app, stranger.accessToken, shown.id)).id).toBe(shown.id);
      // Read-only for others.
      await expectError(
        await app.request(`/api/v1/chats/${shown.id}`, { method: 'PATCH', headers: bearer(stranger.accessToken), json: { title: 'x' } }),
        404,
        'not_found',
      );
      await expectError(await app.request(`/api/v1/chats/${kept.id}`), 404, 'not_found');
      await expectError(await app.request(`/api/v1/chats/${kept.id}`, { headers: bearer(stranger.accessToken) }), 404, 'not_found');

      await app.request(`/api/v1/chats/${shown.id}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: false } });
      await expectError(await app.request(`/api/v1/chats/${shown.id}`), 404, 'not_found');
      expect(idsOf(await readJson(await app.request('/api/v1/chats/featured')))).not.toContain(shown.id);
    });

    test("happy: GET /chats/search finds the caller's chats by message text and by title, no one else's", async () => {
      const account = await register(app);
      const other = await register(app);
      const word = `zebraquokka${Math.random().toString(36).slice(2, 8).replace(/\d/g, 'q')}`;
      const byMessage = await createChat(app, account.accessToken, { title: 'Animals' });
      const sent = await sendJson(app, account.accessToken, byMessage.id, { content: `tell me about the ${word} please` });
      const byTitle = await createChat(app, account.accessToken, { title: `The ${word} notes` });
      await createChat(app, account.accessToken, { title: 'Unrelated' });
      const foreign = await createChat(app, other.accessToken, { title: `${word} of someone else` });
      await sendJson(app, other.accessToken, foreign.id, { content: `${word} again` });

      const response = await app.request(`/api/v1/chats/search?q=${word}`, { headers: bearer(account.accessToken) });
      expect(response.status).toBe(200);
      const results = await readJson(response);
      const found = results.data.map((hit: { chat: { id: string } }) => hit.chat.id);
      expect([...found].sort()).toEqual([byMessage.id, byTitle.id].sort());
      expect(results.nextCursor).toBeNull();
      const messageHit = results.data.find((hit: { chat: { id: string } }) => hit.chat.id === byMessage.id);
      expect(messageHit.matches.map((m: { messageId: string | null }) => m.messageId)).toContain(sent.userMessage.id);
      expect(messageHit.matches.some((m: { snippet: string }) => m.snippet.includes(word))).toBe(true);
      const titleHit = results.data.find((hit: { chat: { id: string } }) => hit.chat.id === byTitle.id);
      expect(titleHit.matches).toContainEqual({ messageId: null, snippet: `The ${word} notes` });

      const theirs = await readJson(await app.request(`/api/v1/chats/search?q=${word}`, { headers: bearer(other.accessToken) }));
      expect(theirs.data.map((hit: { chat: { id: string } }) => hit.chat.id)).toEqual([foreign.id]);
      const none = await readJson(
        await app.request(`/api/v1/chats/search?q=${uniqueText('nothing').split(' ')[1]}`, { headers: bearer(account.accessToken) }),
      );
      expect(none.data).toEqual([]);
      await expectError(await app.request('/api/v1/chats/search', { headers: bearer(account.accessToken) }), 422, 'validation_error');
    });
  });
}
