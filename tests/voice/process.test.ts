// POST /api/v1/voice/process, a spoken turn, on every storage kind: speech → the fake's transcript
// → the echo provider's reply (which repeats the transcript) → the fake's speech. With a chatId the
// turn is stored in that chat (owner only: another user's is 404 before anything is spent); with
// `Accept: text/event-stream` the reply streams as SSE between `transcript` and `audio` + `done`.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sineWav, spokenWav } from '../fakes/audio.ts';
import { type FakeSpeech, fakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import {
  type Account,
  api,
  bearer,
  createChat,
  expectError,
  expectIncreasing,
  expectStatus,
  getChat,
  register,
  uniqueText,
} from '../helpers/client.ts';
import { readSse } from '../helpers/sse.ts';
import { audioForm, postForm, voiceEnv, voiceUsage } from './helpers.ts';

const decode = (base64: string) => new Uint8Array(Buffer.from(base64, 'base64'));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const sse = { accept: 'text/event-stream' };

describe.each(kinds)('POST /voice/process (%s)', (_name, kind) => {
  let fake: FakeSpeech;
  let app: TestApp;
  let user: Account;
  /** A recording the fake hears as `text` (real speech where espeak-ng is installed). */
  const said = (text: string) => {
    const { bytes } = spokenWav(text);
    fake.script(bytes, text);
    return bytes;
  };
  beforeAll(async () => {
    fake = await startFakeSpeech();
    app = await createTestApp(kind, voiceEnv(fake));
    user = await register(app);
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('happy: without a chat: transcript, the reply, and the reply spoken; nothing stored but the usage', async () => {
    const account = await register(app);
    const text = uniqueText('what time is it');
    const before = fake.requests.length;
    const body = await expectStatus(
      await postForm(app, account.accessToken, 'process', audioForm(said(text), { format: 'wav', voice: 'echo' })),
      200,
    );
    expect(body).toMatchObject({ transcript: text, reply: text, format: 'wav', contentType: 'audio/wav', chatId: null });
    expect(typeof body.messageId).toBe('string');
    expect(body.durationSeconds).toBeGreaterThan(0);
    expect(same(decode(body.audio), fakeSpeech(text, 'wav'))).toBe(true);
    const calls = fake.requests.slice(before);
    expect(calls.map((call) => call.path)).toEqual(['/v1/audio/transcriptions', '/v1/audio/speech']);
    expect(calls[1]!.body).toMatchObject({ input: text, voice: 'echo', response_format: 'wav' });
    const chats = expectStatus(await app.request('/api/v1/chats', { headers: bearer(account.accessToken) }), 200);
    expect((await chats).data).toEqual([]);
    const usage = await voiceUsage(app, account.accessToken);
    expect(usage.totals).toMatchObject({ transcriptions: 1, syntheses: 1, synthesizedCharacters: text.length });
  });

  test('happy: with a chat: the transcript is the user message and the reply is stored after it', async () => {
    const chat = await createChat(app, user.accessToken, { provider: 'echo' });
    const text = uniqueText('remember this');
    const body = await expectStatus(await postForm(app, user.accessToken, 'process', audioForm(said(text), { chatId: chat.id })), 200);
    expect(body).toMatchObject({ transcript: text, reply: text, chatId: chat.id, format: 'mp3', contentType: 'audio/mpeg' });
    expect(same(decode(body.audio), fakeSpeech(text, 'mp3'))).toBe(true);
    const stored = await getChat(app, user.accessToken, chat.id);
    expect(stored.messages.map((m) => [m.role, m.content, m.status])).toEqual([
      ['user', text, 'complete'],
      ['assistant', text, 'complete'],
    ]);
    expect(stored.messages[1]!.id).toBe(body.messageId);
  });

  test('security: another user’s chat (or none) is 404 before anything reaches the speech server; their chat is untouched', async () => {
    const owner = await register(app);
    const intruder = await register(app);
    const chat = await createChat(app, owner.accessToken, { provider: 'echo' });
    const before = fake.requests.length;
    for (const chatId of [chat.id, 'no-such-chat']) {
      await expectError(await postForm(app, intruder.accessToken, 'process', audioForm(sineWav(0.4), { chatId })), 404, 'not_found');
    }
    expect(fake.requests.length).toBe(before);
    expect((await getChat(app, owner.accessToken, chat.id)).messages).toEqual([]);
    expect((await voiceUsage(app, intruder.accessToken)).totals.requests).toBe(0);
  });

  test('happy: SSE: transcript, the reply’s start and deltas, then audio and done, ids increasing; the turn is stored', async () => {
    const chat = await createChat(app, user.accessToken, { provider: 'echo' });
    const text = uniqueText('stream me a reply');
    const response = await postForm(app, user.accessToken, 'process', audioForm(said(text), { chatId: chat.id, format: 'pcm' }), sse);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toStartWith('text/event-stream');
    const { events, text: replyText, ended } = await readSse(response);
    expect(ended).toBe(true);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('transcript');
    expect(names[1]).toBe('start');
    expect(names.slice(-2)).toEqual(['audio', 'done']);
    expect(names.slice(2, -2).every((name) => name === 'delta')).toBe(true);
    expectIncreasing(events.map((e) => e.id));
    expect(events[0]!.data).toMatchObject({ text, durationSeconds: expect.any(Number) });
    expect(events[1]!.data).toMatchObject({ chatId: chat.id, provider: 'echo' });
    expect(replyText).toBe(text);
    const audio = events.at(-2)!.data;
    expect(audio).toMatchObject({ format: 'pcm', contentType: 'audio/pcm' });
    expect(same(decode(audio.audio), fakeSpeech(text, 'pcm'))).toBe(true);
    const done = events.at(-1)!.data;
    expect(done).toMatchObject({ messageId: events[1]!.data.messageId, finishReason: 'stop', usage: expect.any(Object) });
    const stored = await getChat(app, user.accessToken, chat.id);
    expect(stored.messages.at(-1)).toMatchObject({ id: done.messageId, role: 'assistant', content: text });
  });

  test('error: SSE: a synthesis that fails ends the stream with an error event after the reply', async () => {
    const text = uniqueText('say it in flac');
    fake.failNext(1, 400, 'speech');
    const response = await postForm(app, user.accessToken, 'process', audioForm(said(text), { format: 'flac' }), sse);
    const { events, text: replyText } = await readSse(response);
    expect(replyText).toBe(text);
    expect(events.at(-1)).toMatchObject({
      event: 'error',
      data: { code: 'upstream_error', message: 'The speech server answered HTTP 400' },
    });
    expect(events.some((e) => e.event === 'audio' || e.event === 'done')).toBe(false);
  });

  test('error: JSON: the speech server failing is 502; a transcription failure stores nothing in the chat', async () => {
    const chat = await createChat(app, user.accessToken, { provider: 'echo' });
    fake.failNext(1, 500);
    await expectError(
      await postForm(app, user.accessToken, 'process', audioForm(sineWav(0.4), { chatId: chat.id })),
      502,
      'upstream_error',
    );
    expect((await getChat(app, user.accessToken, chat.id)).messages).toEqual([]);
    fake.failNext(1, 503, 'speech');
    await expectError(await postForm(app, user.accessToken, 'process', audioForm(said(uniqueText('speech fails')))), 502, 'upstream_error');
  });

  test('error: audio in which no speech is heard is 422 on body.audio; an unknown voice is 422 before anything is sent', async () => {
    const silence = sineWav(0.5, 8000);
    fake.script(silence, '   ');
    const quiet = await expectError(await postForm(app, user.accessToken, 'process', audioForm(silence)), 422, 'validation_error');
    expect(quiet.error.details).toEqual([{ field: 'body.audio', message: expect.stringContaining('no speech') }]);
    const before = fake.requests.length;
    const voice = await expectError(
      await postForm(app, user.accessToken, 'process', audioForm(sineWav(0.4), { voice: 'darth' })),
      422,
      'validation_error',
    );
    expect(voice.error.details[0].field).toBe('body.voice');
    expect(fake.requests.length).toBe(before);
  });

  test('happy: a repeat with the same Idempotency-Key gets the first answer; nothing is heard, said or stored twice', async () => {
    const chat = await createChat(app, user.accessToken, { provider: 'echo' });
    const bytes = said(uniqueText('only once'));
    const headers = { 'idempotency-key': `voice-${chat.id}` };
    const first = await expectStatus(await postForm(app, user.accessToken, 'process', audioForm(bytes, { chatId: chat.id }), headers), 200);
    const before = fake.requests.length;
    const again = await postForm(app, user.accessToken, 'process', audioForm(bytes, { chatId: chat.id }), headers);
    expect(again.headers.get('idempotency-replayed')).toBe('true');
    expect(await expectStatus(again, 200)).toEqual(first);
    expect(fake.requests.length).toBe(before);
    expect((await getChat(app, user.accessToken, chat.id)).messages).toHaveLength(2);
  });

  test('happy: the typed client reads the voice usage', async () => {
    const result = await api(app).api.v1.voice.usage.get({ headers: bearer(user.accessToken), query: { days: 7 } });
    expect(result.status).toBe(200);
    expect(result.data!.totals.transcriptions).toBeGreaterThan(0);
  });
});
