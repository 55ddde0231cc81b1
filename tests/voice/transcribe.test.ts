// POST /api/v1/voice/transcribe against the fake speech server, on every storage kind: real speech
// (espeak-ng, where installed) reaches the server as OpenAI's multipart; the audio is judged by its
// content (format 415, size and duration 413, readability 422) before anything is sent; failures of
// the server are 502, a missing server 503.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { hasEspeak, sineWav, spokenWav } from '../fakes/audio.ts';
import { type FakeSpeech, fakeTranscript, startFakeSpeech, wavSeconds } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, expectError, expectStatus, register } from '../helpers/client.ts';
import { audioForm, postForm, voiceEnv, voiceUsage } from './helpers.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const maxFileSize = 200_000;

describe.each(kinds)('POST /voice/transcribe (%s)', (_name, kind) => {
  let fake: FakeSpeech;
  let app: TestApp;
  let user: Account;
  beforeAll(async () => {
    fake = await startFakeSpeech({ apiKey: 'speech-key-for-tests' });
    app = await createTestApp(kind, voiceEnv(fake, { MAX_FILE_SIZE: String(maxFileSize), MAX_AUDIO_SECONDS: '5' }));
    user = await register(app);
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('happy: real speech reaches the speech server as multipart with the model name; its transcript comes back', async () => {
    const { bytes, spoken } = spokenWav('hello world, this is parley speaking');
    fake.script(bytes, 'hello world, this is parley speaking');
    const before = fake.requests.length;
    const body = await expectStatus(
      await postForm(app, user.accessToken, 'transcribe', audioForm(bytes, {}, { name: 'x.bin', type: 'text/plain' })),
      200,
    );
    expect(body.text).toBe('hello world, this is parley speaking');
    expect(body.language).toBe('english');
    // The duration is read from the file itself, whatever the server says.
    expect(body.durationSeconds).toBeCloseTo(wavSeconds(bytes)!, 3);
    const [call, ...others] = fake.requests.slice(before);
    expect(others).toEqual([]);
    expect(call!.path).toBe('/v1/audio/transcriptions');
    expect(call!.headers['content-type']).toStartWith('multipart/form-data');
    expect(call!.headers.authorization).toBe('Bearer speech-key-for-tests');
    expect(call!.fields).toMatchObject({ model: 'whisper-1', response_format: 'verbose_json' });
    // Named by what it is (the server tells the format by the extension), not by what the client said.
    expect(call!.file!.name).toBe('audio.wav');
    expect(call!.file!.sha256).toBe(sha256(bytes));
    // espeak-ng writes 22,050 Hz mono; the fallback tone is 24,000 Hz.
    if (hasEspeak) {
      expect(spoken).toBe(true);
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(24, true)).toBe(22_050);
    }
  });

  test('happy: language and prompt are passed on; an unscripted file gets the fake’s own transcript', async () => {
    const bytes = sineWav(0.7);
    const before = fake.requests.length;
    const body = await expectStatus(
      await postForm(app, user.accessToken, 'transcribe', audioForm(bytes, { language: 'fr', prompt: 'Parley, Elysia' })),
      200,
    );
    expect(body).toEqual({ text: fakeTranscript(bytes), language: 'fr', durationSeconds: expect.any(Number) });
    expect(body.durationSeconds).toBeCloseTo(0.7, 3);
    expect(fake.requests[before]!.fields).toMatchObject({ language: 'fr', prompt: 'Parley, Elysia' });
  });

  test('error: content that is not audio is 415, whatever its name and declared type; nothing reaches the server', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(200).fill(0)]);
    const text = new TextEncoder().encode('just some text pretending to be audio');
    const before = fake.requests.length;
    for (const bytes of [png, text]) {
      const body = await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(bytes)), 415, 'unsupported_media_type');
      expect(body.error.message).toContain('wav');
    }
    expect(fake.requests.length).toBe(before);
  });

  test('error: a file over MAX_FILE_SIZE is 413, a body far over it too (refused before it is read)', async () => {
    const tooBig = sineWav((maxFileSize + 1000) / 48_000);
    expect(tooBig.byteLength).toBeGreaterThan(maxFileSize);
    const body = await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(tooBig)), 413, 'payload_too_large');
    expect(body.error.message).toContain('MAX_FILE_SIZE');
    const huge = new Uint8Array(3 * maxFileSize);
    await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(huge)), 413, 'payload_too_large');
  });

  test('error: audio longer than MAX_AUDIO_SECONDS is 413 naming the limit; nothing reaches the server', async () => {
    const before = fake.requests.length;
    const long = sineWav(6, 8000);
    const body = await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(long)), 413, 'payload_too_large');
    expect(body.error.message).toContain('MAX_AUDIO_SECONDS');
    expect(body.error.message).toContain('6.0 s');
    expect(fake.requests.length).toBe(before);
  });

  test('error: unreadable or empty audio, a missing file, an unknown field are 422 naming the field', async () => {
    const broken = new TextEncoder().encode('RIFF\u0000\u0000\u0000\u0000WAVEjunkjunkjunkjunk');
    const unreadable = await expectError(await postForm(app, user.accessToken, 'transcribe', audioForm(broken)), 422, 'validation_error');
    expect(unreadable.error.details).toEqual([{ field: 'body.audio', message: expect.stringContaining('duration') }]);
    const empty = await expectError(
      await postForm(app, user.accessToken, 'transcribe', audioForm(new Uint8Array())),
      422,
      'validation_error',
    );
    expect(empty.error.details[0].field).toBe('body.audio');
    const noFile = new FormData();
    noFile.set('language', 'en');
    await expectError(await postForm(app, user.accessToken, 'transcribe', noFile), 422, 'validation_error');
    const extra = await expectError(
      await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3), { speaker: 'me' })),
      422,
      'validation_error',
    );
    expect(extra.error.details[0].field).toBe('body.speaker');
    const badLanguage = await expectError(
      await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3), { language: 'English please' })),
      422,
      'validation_error',
    );
    expect(badLanguage.error.details[0].field).toBe('body.language');
  });

  test('error: a body that is not multipart is refused: JSON 422 (no file), a broken form 422, text 415', async () => {
    const json = await app.request('/api/v1/voice/transcribe', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.accessToken}` },
      json: { audio: 'aGVsbG8=' },
    });
    await expectError(json, 422, 'validation_error');
    const broken = await app.request('/api/v1/voice/transcribe', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'multipart/form-data; boundary=nothing-here' },
      body: 'not a form at all',
    });
    expect((await expectError(broken, 422, 'validation_error')).error.details[0].field).toBe('body');
    const text = await app.request('/api/v1/voice/transcribe', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'audio/wav' },
      body: sineWav(0.2),
    });
    await expectError(text, 415, 'unsupported_media_type');
  });

  test('error: the speech server failing is 502 upstream_error, without what it said; nothing is recorded', async () => {
    const account = await register(app);
    for (const status of [500, 503, 400]) {
      fake.failNext(1, status);
      const body = await expectError(
        await postForm(app, account.accessToken, 'transcribe', audioForm(sineWav(0.3))),
        502,
        'upstream_error',
      );
      expect(body.error.message).toBe(`The speech server answered HTTP ${status}`);
      expect(JSON.stringify(body)).not.toContain('fake upstream');
    }
    expect((await voiceUsage(app, account.accessToken)).totals.transcriptions).toBe(0);
  });

  test('security: the speech key goes to the speech server only: never in a response or a log line', async () => {
    fake.failNext(1, 401);
    const failed = await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3)));
    expect(await failed.text()).not.toContain('speech-key-for-tests');
    expect(JSON.stringify(app.logs)).not.toContain('speech-key-for-tests');
  });

  test('happy: each transcription is recorded: one more, with the seconds heard', async () => {
    const account = await register(app);
    const bytes = sineWav(1.5);
    await expectStatus(await postForm(app, account.accessToken, 'transcribe', audioForm(bytes)), 200);
    await expectStatus(await postForm(app, account.accessToken, 'transcribe', audioForm(bytes)), 200);
    const usage = await voiceUsage(app, account.accessToken);
    expect(usage.totals).toEqual({ requests: 2, transcriptions: 2, transcribedSeconds: 3, syntheses: 0, synthesizedCharacters: 0 });
  });
});

describe('speech server down or not configured', () => {
  let down: TestApp;
  let none: TestApp;
  beforeAll(async () => {
    // Nothing listens on port 9 (discard) here: the connection is refused at once.
    down = await createTestApp(undefined, { RATE_LIMIT_ENABLED: 'false', SPEECH_BASE_URL: 'http://127.0.0.1:9/v1' });
    none = await createTestApp(undefined, { RATE_LIMIT_ENABLED: 'false' });
  });
  afterAll(async () => {
    await down.close();
    await none.close();
  });

  test('error: a speech server that cannot be reached is 502 upstream_error saying so', async () => {
    const user = await register(down);
    const body = await expectError(await postForm(down, user.accessToken, 'transcribe', audioForm(sineWav(0.3))), 502, 'upstream_error');
    expect(body.error.message).toBe('The speech server could not be reached');
  });

  test('error: with no speech server configured every voice route but usage is 503 naming SPEECH_BASE_URL and OPENAI_API_KEY', async () => {
    const user = await register(none);
    const auth = { authorization: `Bearer ${user.accessToken}` };
    const responses = [
      await postForm(none, user.accessToken, 'transcribe', audioForm(sineWav(0.3))),
      await postForm(none, user.accessToken, 'process', audioForm(sineWav(0.3))),
      await none.request('/api/v1/voice/synthesize', { method: 'POST', headers: auth, json: { text: 'hello' } }),
      await none.request('/api/v1/voice/voices', { headers: auth }),
    ];
    for (const response of responses) {
      const body = await expectError(response, 503, 'unavailable');
      expect(body.error.message).toContain('SPEECH_BASE_URL');
      expect(body.error.message).toContain('OPENAI_API_KEY');
    }
    // Usage reads what was recorded: it answers without a speech server.
    const usage = await expectStatus(await none.request('/api/v1/voice/usage', { headers: auth }), 200);
    expect(usage.totals.requests).toBe(0);
  });
});
