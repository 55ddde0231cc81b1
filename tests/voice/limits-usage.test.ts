// What voice costs and what it records, on every storage kind: each call that reaches the speech
// server counts against the caller's LLM limits (a spoken turn counts its reply too), a refused
// call reaches nothing; GET /voice/usage sums voice_usage by day over `days`. And the voice routes
// as the OpenAPI document describes them.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sineWav } from '../fakes/audio.ts';
import { type FakeSpeech, startFakeSpeech } from '../fakes/speech.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, expectStatus, rateLimit, register, statelessChat } from '../helpers/client.ts';
import { audioForm, postForm, synthesize, voiceEnv, voiceUsage } from './helpers.ts';

const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const daysAgo = (n: number) => dayOf(new Date(Date.now() - n * 86_400_000));

describe.each(kinds)('voice and the LLM limits (%s)', (_name, kind) => {
  let fake: FakeSpeech;
  let app: TestApp;
  beforeAll(async () => {
    fake = await startFakeSpeech();
    app = await createTestApp(
      kind,
      voiceEnv(fake, {
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_MAX_REQUESTS: '10000',
        AUTH_RATE_LIMIT_MAX: '1000',
        TIER_LIMITS_FREE: 'minute=3,hour=100,day=500',
      }),
    );
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  test('error: past the caller’s LLM limit a voice call is 429 with Retry-After, and reaches no speech server', async () => {
    const user = await register(app);
    for (let i = 0; i < 3; i++) await expectStatus(await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3))), 200);
    const before = fake.requests.length;
    const refused = await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(0.3)));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = await expectError(refused, 429, 'rate_limited');
    expect(body.error.message).toContain('perMinute');
    await expectError(await synthesize(app, user.accessToken, { text: 'no more' }), 429, 'rate_limited');
    expect(fake.requests.length).toBe(before);
    // One budget: the chat is refused too, and the limits say so.
    await expectError(await statelessChat(app, user.accessToken), 429, 'rate_limited');
    expect((await rateLimit(app, user.accessToken)).remaining.perMinute).toBe(0);
    expect((await voiceUsage(app, user.accessToken)).totals.transcriptions).toBe(3);
  });

  test('error: a spoken turn counts twice (its speech, its reply): with one call left it is refused before it is heard', async () => {
    const user = await register(app);
    await expectStatus(await postForm(app, user.accessToken, 'process', audioForm(sineWav(0.3), { format: 'wav' })), 200);
    expect((await rateLimit(app, user.accessToken)).remaining.perMinute).toBe(1);
    const before = fake.requests.length;
    const refused = await postForm(app, user.accessToken, 'process', audioForm(sineWav(0.3)));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await expectError(refused, 429, 'rate_limited')).error.message).toContain('two calls');
    expect(fake.requests.length).toBe(before);
    // The one call left is still there for something that takes one.
    expect((await rateLimit(app, user.accessToken)).remaining.perMinute).toBe(1);
    expect((await synthesize(app, user.accessToken, { text: 'one left', format: 'wav' })).status).toBe(200);
  });
});

describe.each(kinds)('GET /voice/usage (%s)', (_name, kind) => {
  let fake: FakeSpeech;
  let app: TestApp;
  beforeAll(async () => {
    fake = await startFakeSpeech();
    app = await createTestApp(kind, voiceEnv(fake));
  });
  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  /** A day of earlier use, written as the service writes it. */
  const seed = (
    userId: string,
    day: string,
    row: { transcriptions: number; transcribedMs: number; syntheses: number; synthesizedChars: number },
  ) => app.infra.db.run((q) => q.insert(app.infra.db.tables.voiceUsage).values({ userId, day, ...row }));

  test('happy: seconds heard, characters spoken and requests, by day, within `days`; only the caller’s', async () => {
    const user = await register(app);
    const other = await register(app);
    await seed(user.userId, daysAgo(1), { transcriptions: 2, transcribedMs: 4500, syntheses: 1, synthesizedChars: 40 });
    await seed(user.userId, daysAgo(40), { transcriptions: 7, transcribedMs: 60_000, syntheses: 0, synthesizedChars: 0 });
    await expectStatus(await postForm(app, user.accessToken, 'transcribe', audioForm(sineWav(1.25))), 200);
    await (await synthesize(app, user.accessToken, { text: 'twelve chars', format: 'wav' })).arrayBuffer();
    await (await synthesize(app, other.accessToken, { text: 'not yours', format: 'wav' })).arrayBuffer();

    const usage = await voiceUsage(app, user.accessToken);
    expect(usage.from).toBe(daysAgo(29));
    expect(usage.to).toBe(daysAgo(0));
    expect(usage.byDay).toEqual([
      { day: daysAgo(1), requests: 3, transcriptions: 2, transcribedSeconds: 4.5, syntheses: 1, synthesizedCharacters: 40 },
      { day: daysAgo(0), requests: 2, transcriptions: 1, transcribedSeconds: 1.25, syntheses: 1, synthesizedCharacters: 12 },
    ]);
    expect(usage.totals).toEqual({ requests: 5, transcriptions: 3, transcribedSeconds: 5.75, syntheses: 2, synthesizedCharacters: 52 });
    expect((await voiceUsage(app, user.accessToken, 1)).byDay.map((d: { day: string }) => d.day)).toEqual([daysAgo(0)]);
    expect((await voiceUsage(app, user.accessToken, 60)).totals.transcriptions).toBe(10);
    expect((await voiceUsage(app, other.accessToken)).totals).toMatchObject({ requests: 1, syntheses: 1, synthesizedCharacters: 9 });
  });

  test('error: days outside 1..366 is 422 naming query.days; no credentials is 401', async () => {
    const user = await register(app);
    for (const days of ['0', '367', 'week']) {
      const body = await expectError(
        await app.request(`/api/v1/voice/usage?days=${days}`, { headers: bearer(user.accessToken) }),
        422,
        'validation_error',
      );
      expect(body.error.details[0].field).toBe('query.days');
    }
    await expectError(await app.request('/api/v1/voice/usage'), 401, 'unauthorized');
  });
});

describe('the voice routes in the OpenAPI document', () => {
  type Operation = {
    tags?: string[];
    requestBody?: { content: Record<string, { schema: { properties?: Record<string, { type?: string; format?: string }> } }> };
    responses: Record<string, { content?: Record<string, unknown> }>;
  };
  let paths: Record<string, Record<string, Operation>>;
  beforeAll(async () => {
    const app = await createTestApp();
    paths = ((await (await app.request('/swagger/json')).json()) as { paths: typeof paths }).paths;
    await app.close();
  });

  test('happy: every voice route is there, uploads as multipart with a binary `audio`, speech as audio/*', () => {
    const voice = Object.entries(paths).filter(([path]) => path.startsWith('/api/v1/voice/'));
    expect(voice.map(([path, item]) => `${Object.keys(item).join(',')} ${path}`).sort()).toEqual([
      'get /api/v1/voice/usage',
      'get /api/v1/voice/voices',
      'post /api/v1/voice/process',
      'post /api/v1/voice/synthesize',
      'post /api/v1/voice/transcribe',
    ]);
    for (const route of ['transcribe', 'process']) {
      const operation = paths[`/api/v1/voice/${route}`]!.post!;
      expect(Object.keys(operation.requestBody!.content)).toEqual(['multipart/form-data']);
      expect(operation.requestBody!.content['multipart/form-data']!.schema.properties!.audio).toMatchObject({
        type: 'string',
        format: 'binary',
      });
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['200', '401', '413', '415', '422', '429', '502', '503']));
    }
    expect(Object.keys(paths['/api/v1/voice/process']!.post!.responses['200']!.content!).sort()).toEqual([
      'application/json',
      'text/event-stream',
    ]);
    const synthesis = paths['/api/v1/voice/synthesize']!.post!;
    expect(Object.keys(synthesis.requestBody!.content)).toEqual(['application/json']);
    expect(Object.keys(synthesis.responses['200']!.content!)).toContain('audio/mpeg');
    expect(Object.keys(synthesis.responses)).toEqual(expect.arrayContaining(['422', '429', '502', '503']));
    expect(voice.every(([, item]) => Object.values(item).every((operation) => operation.tags?.includes('Voice')))).toBe(true);
  });
});
