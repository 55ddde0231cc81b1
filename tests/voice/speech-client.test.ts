// The speech door itself (src/infra/speech) against the fake speech server, and what keeps a
// spoken turn's SSE alive: the gpt-4o models' plain JSON, the clocks (answer, total), a key sent
// as OpenAI's bearer, and pings while a stage is quiet.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type SseItem, withPings } from '../../src/http/sse.ts';
import { createOpenAiSpeech, type SpeechClient, UpstreamError } from '../../src/infra/speech/index.ts';
import { sineWav } from '../fakes/audio.ts';
import { type FakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { register, waitUntil } from '../helpers/client.ts';
import { readSse } from '../helpers/sse.ts';
import { audioForm, postForm, voiceEnv } from './helpers.ts';

const never = new AbortController().signal;

describe('the OpenAI speech client', () => {
  let fake: FakeSpeech;
  const client = (options: Partial<Parameters<typeof createOpenAiSpeech>[0]> = {}): SpeechClient =>
    createOpenAiSpeech({
      baseUrl: fake.baseUrl,
      apiKey: 'sk-speech-0123456789',
      transcribeModel: 'whisper-1',
      synthesizeModel: 'tts-1',
      answerTimeoutMs: 5000,
      totalTimeoutMs: 10_000,
      ...options,
    });
  beforeAll(async () => {
    fake = await startFakeSpeech({ apiKey: 'sk-speech-0123456789', chunkBytes: 512 });
  });
  afterAll(() => fake.stop());

  test('happy: whisper answers verbose JSON (language, duration); a gpt-4o model is asked for plain JSON', async () => {
    const audio = sineWav(0.8);
    fake.script(audio, 'hello');
    const verbose = await client().transcribe({ audio, filename: 'audio.wav', contentType: 'audio/wav', language: 'en', signal: never });
    expect(verbose).toEqual({ text: 'hello', language: 'en', durationSeconds: expect.any(Number) });
    expect(verbose.durationSeconds).toBeCloseTo(0.8, 3);
    const before = fake.requests.length;
    const plain = await client({ transcribeModel: 'gpt-4o-mini-transcribe' }).transcribe({
      audio,
      filename: 'audio.wav',
      contentType: 'audio/wav',
      signal: never,
    });
    expect(plain).toEqual({ text: 'hello' });
    expect(fake.requests[before]!.fields).toMatchObject({ model: 'gpt-4o-mini-transcribe', response_format: 'json' });
    expect(fake.requests[before]!.headers.authorization).toBe('Bearer sk-speech-0123456789');
  });

  test('error: a server that does not start answering within answerTimeoutMs fails with UpstreamError; its request is stopped', async () => {
    fake.slow({ answerDelayMs: 3000 });
    try {
      const before = fake.requests.length;
      const started = Date.now();
      const failed = client({ answerTimeoutMs: 200 }).synthesize({ text: 'hi', voice: 'alloy', format: 'wav', speed: 1, signal: never });
      await expect(failed).rejects.toThrow('The speech server did not answer within 200 ms');
      expect(await failed.catch((e: unknown) => e)).toBeInstanceOf(UpstreamError);
      expect(Date.now() - started).toBeLessThan(2000);
      await waitUntil(() => fake.requests[before]!.aborted, 'the speech request to be aborted');
    } finally {
      fake.slow({ answerDelayMs: 0 });
    }
  });

  test('error: audio still arriving when totalTimeoutMs runs out ends its stream with an UpstreamError', async () => {
    fake.slow({ chunkDelayMs: 150 });
    try {
      const audio = await client({ totalTimeoutMs: 500 }).synthesize({
        text: 'x'.repeat(60),
        voice: 'alloy',
        format: 'pcm',
        speed: 1,
        signal: never,
      });
      expect(audio.contentType).toBe('audio/pcm');
      const error = await new Response(audio.body).arrayBuffer().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as Error).message).toBe('The speech server did not answer within 500 ms');
    } finally {
      fake.slow({ chunkDelayMs: 0 });
    }
  });

  test('error: the caller’s abort stops a transcription at once', async () => {
    fake.slow({ transcribeDelayMs: 3000 });
    try {
      const ac = new AbortController();
      const pending = client().transcribe({ audio: sineWav(0.2), filename: 'audio.wav', contentType: 'audio/wav', signal: ac.signal });
      await Bun.sleep(100);
      ac.abort();
      expect(await pending.catch((e: unknown) => e)).toBeInstanceOf(UpstreamError);
    } finally {
      fake.slow({ transcribeDelayMs: 0 });
    }
  });
});

describe('pings while a voice stage is quiet', () => {
  test('happy: withPings sends `: ping` every interval of waiting, then the items in order', async () => {
    async function* slowSource(): AsyncGenerator<SseItem> {
      await Bun.sleep(130);
      yield { id: '1-1', event: 'a', data: '{}' };
      yield { id: '1-2', event: 'b', data: '{}' };
    }
    const items: SseItem[] = [];
    for await (const item of withPings(slowSource(), 50)) items.push(item);
    const pings = items.filter((item) => 'ping' in item).length;
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(items.filter((item) => !('ping' in item)).map((item) => ('event' in item ? item.event : ''))).toEqual(['a', 'b']);
    expect('ping' in items.at(-1)!).toBe(false);
  });

  let fake: FakeSpeech;
  let app: TestApp;
  beforeAll(async () => {
    fake = await startFakeSpeech({ chunkBytes: 4096 });
    app = await createTestApp(undefined, voiceEnv(fake, { SSE_PING_MS: '100' }));
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('happy: a spoken turn’s SSE pings while its reply is being spoken', async () => {
    const user = await register(app);
    fake.slow({ chunkDelayMs: 80 });
    try {
      const response = await postForm(app, user.accessToken, 'process', audioForm(sineWav(0.3), { format: 'pcm' }), {
        accept: 'text/event-stream',
      });
      const { events, comments } = await readSse(response);
      expect(events.map((e) => e.event).slice(-2)).toEqual(['audio', 'done']);
      expect(comments).toContain('ping');
    } finally {
      fake.slow({ chunkDelayMs: 0 });
    }
  });
});
