// Attachments on a message (issue 13, "Attachments"): only the caller's files; text added to the
// prompt within the context budget (the reply says what was cut), images as image parts in each
// provider's wire format; stored with the message, listed when the chat is read, and kept in the
// message tree across regenerate and edits. Against the fake upstream, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  bearer,
  createChat,
  expectError,
  expectStatus,
  getChat,
  type Json,
  readJson,
  register,
  sendJson,
  sendMessage,
  streamMessage,
} from '../helpers/client.ts';
import { upload, uploadSample } from '../helpers/files.ts';
import { bodyOf, llmEnv } from '../helpers/llm.ts';
import { samples } from '../helpers/samples.ts';
import { WsClient } from '../helpers/ws.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const pngBase64 = Buffer.from(samples.png.data).toString('base64');
const notes = '# Launch notes\n\nThe launch code is 4242.\n';

async function uploadText(app: TestApp, token: string, name: string, text: string): Promise<Json> {
  return expectStatus(await upload(app, token, [{ field: 'file', filename: name, type: 'text/markdown', data: text }]), 201);
}
/** The last user turn of the last generation request that reached the fake. */
function lastUserTurn(): { content: unknown } {
  const request = fake.requests.filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/messages').at(-1)!;
  return bodyOf(request)
    .messages!.filter((m) => m.role === 'user')
    .at(-1)!;
}

describe.each(kinds)('attachments on messages (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, llmEnv(fake, { CONTEXT_TOKEN_BUDGET: '2000' }));
  });
  afterAll(() => app.close());

  test('happy: text and an image reach OpenAI as a text part with the file and an image_url data URL', async () => {
    const { accessToken: token } = await register(app);
    const text = await uploadText(app, token, 'notes.md', notes);
    const image = await uploadSample(app, token, 'photo.png');
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-4o' });
    const sent = await sendJson(app, token, chat.id, { content: 'What is the code?', attachments: [text.id, image.id] });
    expect(sent.notes).toBeUndefined();
    const content = lastUserTurn().content as Json[];
    expect(content[0]).toEqual({ type: 'text', text: 'What is the code?' });
    expect(content[1].type).toBe('text');
    expect(content[1].text).toContain('<attachment name="notes.md" kind="markdown">');
    expect(content[1].text).toContain('The launch code is 4242.');
    expect(content[2]).toEqual({ type: 'image_url', image_url: { url: `data:image/png;base64,${pngBase64}` } });
  });

  test('happy: Anthropic gets a text block and a base64 image block', async () => {
    const { accessToken: token } = await register(app);
    const text = await uploadText(app, token, 'notes.md', notes);
    const image = await uploadSample(app, token, 'photo.png');
    const chat = await createChat(app, token, { provider: 'anthropic', model: 'claude-sonnet-5-5' });
    await sendJson(app, token, chat.id, { content: 'Describe', attachments: [text.id, image.id] });
    const content = lastUserTurn().content as Json[];
    expect(content.map((block) => block.type)).toEqual(['text', 'text', 'image']);
    expect(content[1].text).toContain('The launch code is 4242.');
    expect(content[2].source).toEqual({ type: 'base64', media_type: 'image/png', data: pngBase64 });
  });

  test('happy: stored with the message, listed with names when the chat is read, and kept across regenerate and edit', async () => {
    const { accessToken: token } = await register(app);
    const text = await uploadText(app, token, 'notes.md', notes);
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-4o-mini' });
    const sent = await sendJson(app, token, chat.id, { content: 'Read it', attachments: [text.id] });
    const read = await getChat(app, token, chat.id);
    const question = read.messages.find((m: Json) => m.role === 'user')!;
    expect(question.attachments).toEqual([text.id]);
    expect(question.files).toEqual([{ id: text.id, name: 'notes.md', contentType: text.contentType, size: text.size }]);

    const regenerate = await app.request(`/api/v1/chats/${chat.id}/messages/${sent.assistantMessage.id}/regenerate`, {
      method: 'POST',
      headers: bearer(token),
      json: { stream: false },
    });
    expect(regenerate.status).toBe(200);
    expect(JSON.stringify(lastUserTurn().content)).toContain('The launch code is 4242.');

    const edited = await readJson(
      await app.request(`/api/v1/chats/${chat.id}/messages/${sent.userMessage.id}`, {
        method: 'PATCH',
        headers: bearer(token),
        json: { content: 'Read it again', stream: false },
      }),
    );
    expect(edited.userMessage.attachments).toEqual([text.id]);
    expect(JSON.stringify(lastUserTurn().content)).toContain('The launch code is 4242.');
    const again = (await getChat(app, token, chat.id)).messages.find((m: Json) => m.role === 'user')!;
    expect(again.files!.map((f: Json) => f.name)).toEqual(['notes.md']);
    // In use by messages: the file cannot be deleted.
    await expectError(await app.request(`/api/v1/files/${text.id}`, { method: 'DELETE', headers: bearer(token) }), 409, 'conflict');
  });

  test('happy: a file too big for the context is cut, and the reply says so (JSON and the SSE start event)', async () => {
    const { accessToken: token } = await register(app);
    const big = await uploadText(app, token, 'big.txt', 'lorem ipsum dolor sit amet '.repeat(2000));
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-4o-mini' });
    const sent = await sendJson(app, token, chat.id, { content: 'Summarise', attachments: [big.id] });
    expect(sent.notes).toHaveLength(1);
    expect(sent.notes[0]).toMatch(/^big\.txt: cut to [\d,]+ of 54,000 characters/);
    const sentText = JSON.stringify(lastUserTurn().content);
    expect(sentText.length).toBeLessThan(54_000);
    const streamed = await streamMessage(app, token, chat.id, { content: 'Again', attachments: [big.id] });
    expect(streamed.start.notes[0]).toMatch(/^big\.txt: cut to/);
  });

  test('error: another user’s file is 404 and nothing is stored or sent', async () => {
    const owner = await register(app);
    const stranger = await register(app);
    const file = await uploadText(app, owner.accessToken, 'private.md', 'secret');
    const chat = await createChat(app, stranger.accessToken, { provider: 'openai', model: 'gpt-4o' });
    const before = fake.requests.length;
    await expectError(
      await sendMessage(app, stranger.accessToken, chat.id, { content: 'Steal', attachments: [file.id] }),
      404,
      'not_found',
    );
    await expectError(
      await sendMessage(app, stranger.accessToken, chat.id, { content: 'Guess', attachments: ['0190ffff-ffff-7fff-bfff-ffffffffffff'] }),
      404,
      'not_found',
    );
    expect((await getChat(app, stranger.accessToken, chat.id)).messages).toEqual([]);
    expect(fake.requests.length).toBe(before);
  });

  test('error: an image for a model that cannot take images is 422 before anything is stored', async () => {
    const { accessToken: token } = await register(app);
    const image = await uploadSample(app, token, 'photo.png');
    const chat = await createChat(app, token, { provider: 'ollama', model: 'llama3' });
    const refused = await expectError(
      await sendMessage(app, token, chat.id, { content: 'Look', attachments: [image.id] }),
      422,
      'validation_error',
    );
    expect(refused.error.message).toMatch(/image/i);
    expect((await getChat(app, token, chat.id)).messages).toEqual([]);
  });

  test('happy: an audio file is not sent, and the note says how to use it', async () => {
    const { accessToken: token } = await register(app);
    const audio = await uploadSample(app, token, 'memo.wav', 'wav');
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-4o-mini' });
    const sent = await sendJson(app, token, chat.id, { content: 'Listen', attachments: [audio.id] });
    expect(sent.notes).toEqual(['memo.wav: audio is not sent to the model (transcribe it with POST /voice/transcribe)']);
    expect(lastUserTurn().content).toBe('Listen');
  });
});

describe('attachments over the websocket', () => {
  let app: TestApp;
  let wsUrl: string;
  beforeAll(async () => {
    app = await createTestApp(undefined, llmEnv(fake));
    app.app.listen({ port: 0, hostname: '127.0.0.1' });
    wsUrl = `ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`;
  });
  afterAll(async () => {
    await app.app.stop(true);
    await app.close();
  });

  test('error: an image for a model that cannot take images is a validation_error frame (not internal_error), nothing stored', async () => {
    const { accessToken: token } = await register(app);
    const image = await uploadSample(app, token, 'photo.png');
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-3.5-turbo' });
    const socket = await WsClient.ready(wsUrl, token);
    try {
      socket.send({ type: 'chat.send', chatId: chat.id, content: 'Look', attachments: [image.id], requestId: 'r1' });
      const frame = await socket.waitFor((f) => f.type === 'error', 'the error frame');
      expect(frame).toMatchObject({ type: 'error', code: 'validation_error', requestId: 'r1' });
      expect(frame.message).toMatch(/image/i);
      expect((await getChat(app, token, chat.id)).messages).toEqual([]);
    } finally {
      socket.ws.close();
    }
  });

  test('happy: text attachments reach the model from chat.send, and the chat is titled from the question, not the file', async () => {
    const { accessToken: token } = await register(app);
    const text = await uploadText(app, token, 'notes.md', notes);
    const chat = await createChat(app, token, { provider: 'openai', model: 'gpt-4o-mini' });
    const socket = await WsClient.ready(wsUrl, token);
    try {
      socket.send({ type: 'chat.send', chatId: chat.id, content: 'What does it say?', attachments: [text.id, text.id] });
      await socket.waitFor((f) => f.type === 'done', 'the reply to finish');
      expect(JSON.stringify(lastUserTurn().content)).toContain('The launch code is 4242.');
      const read = await getChat(app, token, chat.id);
      expect(read.title).toBe('What does it say?');
      expect(read.messages.find((m: Json) => m.role === 'user')!.attachments).toEqual([text.id]);
    } finally {
      socket.ws.close();
    }
  });
});
