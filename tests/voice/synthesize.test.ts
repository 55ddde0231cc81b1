// POST /api/v1/voice/synthesize against the fake speech server, on every storage kind: the
// server's audio is passed on as it arrives (the first bytes reach the client while the server is
// still sending), with its content type; a client that leaves stops the upstream request; bad
// input is 422 before anything is sent; failures are 502; the clocks of config.llm bound it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sineWav } from '../fakes/audio.ts';
import { type FakeSpeech, fakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, expectError, expectStatus, register, waitUntil } from '../helpers/client.ts';
import { audioForm, postForm, synthesize, voiceEnv, voiceUsage } from './helpers.ts';

const chunkBytes = 1024;

describe.each(kinds)('POST /voice/synthesize (%s)', (_name, kind) => {
  let fake: FakeSpeech;
  let app: TestApp;
  let user: Account;
  beforeAll(async () => {
    fake = await startFakeSpeech({ chunkBytes });
    app = await createTestApp(kind, voiceEnv(fake, { SPEECH_VOICES: 'nova,alloy', SPEECH_SYNTHESIZE_MODEL: 'tts-1-hd' }));
    user = await register(app);
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('happy: the server’s audio comes back whole with its content type; model, voice, format and speed reach it', async () => {
    const text = 'Good morning from Parley.';
    const before = fake.requests.length;
    const response = await synthesize(app, user.accessToken, { text, voice: 'alloy', format: 'wav', speed: 1.5 });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(Buffer.compare(bytes, fakeSpeech(text, 'wav'))).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('RIFF');
    expect(fake.requests[before]!.body).toEqual({ model: 'tts-1-hd', input: text, voice: 'alloy', response_format: 'wav', speed: 1.5 });
  });

  test('happy: by default mp3 in the first of SPEECH_VOICES at normal speed', async () => {
    const before = fake.requests.length;
    const response = await synthesize(app, user.accessToken, { text: 'Defaults, please.' });
    expect(response.headers.get('content-type')).toBe('audio/mpeg');
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(Buffer.compare(bytes, fakeSpeech('Defaults, please.', 'mp3'))).toBe(0);
    expect([bytes[0], bytes[1]]).toEqual([0xff, 0xfb]); // an MPEG-1 Layer III frame sync
    expect(fake.requests[before]!.body).toMatchObject({ voice: 'nova', response_format: 'mp3', speed: 1 });
  });

  test('happy: the audio is streamed: the first bytes arrive while the server is still sending', async () => {
    fake.slow({ chunkDelayMs: 100 });
    try {
      const text = 'Streamed.';
      const total = fakeSpeech(text, 'pcm').byteLength;
      expect(total).toBeGreaterThan(5 * chunkBytes);
      const before = fake.requests.length;
      const response = await synthesize(app, user.accessToken, { text, format: 'pcm' });
      expect(response.headers.get('content-type')).toBe('audio/pcm');
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      const call = fake.requests[before]!;
      // At most a chunk or two have left the server: it has seconds of chunks still to send.
      expect(call.completed).toBe(false);
      expect(call.sentBytes).toBeLessThan(total);
      let received = first.value!.byteLength;
      for (let next = await reader.read(); !next.done; next = await reader.read()) received += next.value.byteLength;
      expect(received).toBe(total);
      expect(call.completed).toBe(true);
    } finally {
      fake.slow({ chunkDelayMs: 0 });
    }
  });

  test('happy: a client that leaves midway stops the request to the speech server', async () => {
    fake.slow({ chunkDelayMs: 200 });
    try {
      const before = fake.requests.length;
      const response = await synthesize(app, user.accessToken, { text: 'x'.repeat(120), format: 'wav' });
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
      const call = fake.requests[before]!;
      await waitUntil(() => call.aborted, 'the speech request to be aborted');
      expect(call.completed).toBe(false);
    } finally {
      fake.slow({ chunkDelayMs: 0 });
    }
  });

  test('error: bad input is 422 naming the field, and nothing reaches the speech server', async () => {
    const before = fake.requests.length;
    const cases: [Record<string, unknown>, string][] = [
      [{ text: 'hi', voice: 'shimmer' }, 'body.voice'],
      [{ text: 'hi', format: 'ogg' }, 'body.format'],
      [{ text: '' }, 'body.text'],
      [{ text: 'x'.repeat(4097) }, 'body.text'],
      [{ text: 'hi', speed: 5 }, 'body.speed'],
      [{ text: 'hi', speed: 0.1 }, 'body.speed'],
      [{ text: 'hi', pitch: 2 }, 'body.pitch'],
      [{}, 'body.text'],
    ];
    for (const [body, field] of cases) {
      const error = await expectError(await synthesize(app, user.accessToken, body), 422, 'validation_error');
      const fields = [...new Set(error.error.details.map((d: { field: string }) => d.field))];
      expect({ body, fields }).toEqual({ body, fields: [field] });
    }
    expect(fake.requests.length).toBe(before);
  });

  test('error: the speech server failing is 502 upstream_error and is not recorded; what it answers is', async () => {
    const account = await register(app);
    fake.failNext(1, 500);
    const body = await expectError(await synthesize(app, account.accessToken, { text: 'hello' }), 502, 'upstream_error');
    expect(body.error.message).toBe('The speech server answered HTTP 500');
    // A 400 from the speech server is its failure too, not the client's (the client's input was checked).
    fake.failNext(1, 400, 'speech');
    await expectError(await synthesize(app, account.accessToken, { text: 'hello', format: 'flac' }), 502, 'upstream_error');
    // Each format is passed on with the server's own content type.
    const flac = await synthesize(app, account.accessToken, { text: 'hello', format: 'flac' });
    expect(flac.headers.get('content-type')).toBe('audio/flac');
    await flac.arrayBuffer();
    expect((await voiceUsage(app, account.accessToken)).totals.syntheses).toBe(1);
  });

  test('happy: each synthesis is recorded with the characters spoken', async () => {
    const account = await register(app);
    await (await synthesize(app, account.accessToken, { text: 'héllo 👋', format: 'wav' })).arrayBuffer();
    await (await synthesize(app, account.accessToken, { text: 'again', format: 'wav' })).arrayBuffer();
    const usage = await voiceUsage(app, account.accessToken);
    expect(usage.totals).toEqual({ requests: 2, transcriptions: 0, transcribedSeconds: 0, syntheses: 2, synthesizedCharacters: 12 });
  });

  test('happy: GET /voices lists SPEECH_VOICES', async () => {
    const list = await expectStatus(
      await app.request('/api/v1/voice/voices', { headers: { authorization: `Bearer ${user.accessToken}` } }),
      200,
    );
    expect(list).toEqual({
      data: [
        { id: 'nova', name: 'Nova' },
        { id: 'alloy', name: 'Alloy' },
      ],
    });
  });
});

describe('speech clocks', () => {
  let fake: FakeSpeech;
  let app: TestApp;
  beforeAll(async () => {
    fake = await startFakeSpeech();
    app = await createTestApp(undefined, voiceEnv(fake, { LLM_TOTAL_TIMEOUT_MS: '1000', LLM_FIRST_TOKEN_TIMEOUT_MS: '500' }));
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('error: a transcription slower than LLM_TOTAL_TIMEOUT_MS is 502 saying so, and the upstream request is stopped', async () => {
    const user = await register(app);
    fake.slow({ transcribeDelayMs: 5000 });
    try {
      const started = Date.now();
      const before = fake.requests.length;
      const body = await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3))), 502, 'upstream_error');
      expect(body.error.message).toBe('The speech server did not answer within 1000 ms');
      expect(Date.now() - started).toBeLessThan(4000);
      await waitUntil(() => fake.requests[before]!.aborted, 'the transcription request to be aborted');
    } finally {
      fake.slow({ transcribeDelayMs: 0 });
    }
  });
});
