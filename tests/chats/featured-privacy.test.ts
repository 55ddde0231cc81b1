// A featured chat is public, its owner's system prompt is not (issue "Reliability", kind 6; the
// break-it run's note on featured chats): anyone but the owner reads `systemPrompt: null`, in
// GET /chats/:id and in GET /chats/featured; the owner still reads it. On every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, asAdmin, bearer, createChat, expectStatus, register, sendJson, testEnv } from '../helpers/client.ts';

for (const [name, kind] of kinds) {
  describe(`a featured chat’s system prompt on ${name}`, () => {
    let app: TestApp;
    let owner: Account;
    let stranger: Account;
    let chatId: string;
    const prompt = `You are the owner’s private assistant; internal note ${crypto.randomUUID()}`;

    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
      [owner, stranger] = await Promise.all([register(app), register(app)]);
      const chat = await createChat(app, owner.accessToken, { title: 'Showcase', provider: 'echo', systemPrompt: prompt });
      chatId = chat.id;
      await sendJson(app, owner.accessToken, chatId, { content: 'public words' });
      await expectStatus(
        await app.request(`/api/v1/chats/${chatId}/featured`, { method: 'PATCH', headers: asAdmin, json: { featured: true } }),
        200,
      );
    });
    afterAll(() => app.close());

    const read = async (path: string, token: string | null) => {
      const response = await app.request(path, { headers: token ? bearer(token) : {} });
      const text = await response.text();
      expect(response.status).toBe(200);
      return { text, body: JSON.parse(text) };
    };

    test('security: read anonymously, the chat and its messages are there, the system prompt is null', async () => {
      const { text, body } = await read(`/api/v1/chats/${chatId}`, null);
      expect(body).toMatchObject({ id: chatId, title: 'Showcase', featured: true, systemPrompt: null });
      expect(body.messages.map((m: { role: string; content: string }) => `${m.role}:${m.content}`)).toEqual([
        'user:public words',
        'assistant:public words',
      ]);
      expect(text).not.toContain(prompt);
    });

    test('security: read by another signed-in user, the system prompt is null', async () => {
      const { text, body } = await read(`/api/v1/chats/${chatId}`, stranger.accessToken);
      expect(body).toMatchObject({ id: chatId, systemPrompt: null });
      expect(text).not.toContain(prompt);
    });

    test('security: GET /chats/featured lists the chat without its system prompt, for anyone, the owner included', async () => {
      for (const token of [null, stranger.accessToken, owner.accessToken]) {
        const { text, body } = await read('/api/v1/chats/featured', token);
        const listed = body.data.find((chat: { id: string }) => chat.id === chatId);
        expect(listed).toMatchObject({ id: chatId, featured: true, systemPrompt: null });
        expect(text).not.toContain(prompt);
      }
    });

    test('happy: the owner still reads the system prompt, in the chat and in their own list', async () => {
      const { body } = await read(`/api/v1/chats/${chatId}`, owner.accessToken);
      expect(body.systemPrompt).toBe(prompt);
      const list = await read('/api/v1/chats', owner.accessToken);
      expect(list.body.data.find((chat: { id: string }) => chat.id === chatId)?.systemPrompt).toBe(prompt);
    });

    test('happy: the prompt still reaches the model (only its display is withheld)', async () => {
      const sent = await sendJson(app, owner.accessToken, chatId, { content: 'again' });
      expect(sent.assistantMessage.status).toBe('complete');
      // The echo provider counts the system prompt among its input words.
      expect(sent.assistantMessage.usage.inputTokens).toBeGreaterThan(prompt.split(/\s+/).length);
    });
  });
}
