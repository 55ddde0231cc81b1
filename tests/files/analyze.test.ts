// POST /files/:id/analyze (issue 13, "Analyze"): the file's text (here a real PDF and Markdown)
// or its image goes to the chosen model through the reply engine; JSON or SSE; counted in the
// usage records and the LLM limits; owner only. Against the fake upstream, on every storage kind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { defaultAnalyzePrompt } from '../../src/modules/files/analyze.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, expectStatus, type Json, readJson, register } from '../helpers/client.ts';
import { upload, uploadSample } from '../helpers/files.ts';
import { bodyOf, llmEnv } from '../helpers/llm.ts';
import { samples } from '../helpers/samples.ts';
import { readSse } from '../helpers/sse.ts';
import { makePdf } from './extract-fixtures.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const analyze = (app: TestApp, token: string, id: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request(`/api/v1/files/${id}/analyze`, { method: 'POST', headers: { ...bearer(token), ...headers }, json: body });
const lastUserTurn = () =>
  bodyOf(fake.requests.filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/messages').at(-1)!)
    .messages!.filter((m) => m.role === 'user')
    .at(-1)!;

describe.each(kinds)('file analysis (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, llmEnv(fake));
  });
  afterAll(() => app.close());

  test('happy: a PDF’s text and the prompt reach the model; the answer comes with model, usage and notes, and is counted in usage', async () => {
    const { accessToken: token } = await register(app);
    const pdf = await makePdf([['Quarterly report', 'Revenue grew by 12 percent.']]);
    const file = await expectStatus(
      await upload(app, token, [{ field: 'file', filename: 'q3.pdf', type: 'application/pdf', data: pdf }]),
      201,
    );
    const answer = await expectStatus(
      await analyze(app, token, file.id, { prompt: 'How much did revenue grow?', provider: 'openai', model: 'gpt-4o-mini' }),
      200,
    );
    expect(answer).toMatchObject({ fileId: file.id, provider: 'openai', model: 'gpt-4o-mini', notes: [] });
    expect(answer.analysis.length).toBeGreaterThan(0);
    expect(answer.usage.inputTokens).toBeGreaterThan(0);
    const content = lastUserTurn().content as Json[];
    expect(content[0]).toEqual({ type: 'text', text: 'How much did revenue grow?' });
    expect(content[1].text).toContain('<attachment name="q3.pdf" kind="pdf"');
    expect(content[1].text).toContain('Revenue grew by 12 percent.');
    const usage = await readJson(await app.request('/api/v1/users/me/usage', { headers: bearer(token) }));
    expect(JSON.stringify(usage)).toContain('gpt-4o-mini');
  });

  test('happy: without a prompt, the default analysis is asked; an image goes as an image part', async () => {
    const { accessToken: token } = await register(app);
    const image = await uploadSample(app, token, 'chart.png');
    await expectStatus(await analyze(app, token, image.id, { provider: 'anthropic', model: 'claude-sonnet-5-5' }), 200);
    const content = lastUserTurn().content as Json[];
    expect(content[0]).toEqual({ type: 'text', text: defaultAnalyzePrompt });
    expect(content[1]).toEqual({
      type: 'image',
      source: { type: 'base64', media_type: 'image/png', data: Buffer.from(samples.png.data).toString('base64') },
    });
  });

  test('happy: with Accept: text/event-stream (or stream: true) the analysis streams like a reply', async () => {
    const { accessToken: token } = await register(app);
    const file = await uploadSample(app, token, 'notes.md', 'markdown');
    for (const [body, headers] of [
      [{}, { accept: 'text/event-stream' }],
      [{ stream: true }, {}],
    ] as const) {
      const response = await analyze(app, token, file.id, body, headers);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const names = (await readSse(response)).events.map((event) => event.event);
      expect(names[0]).toBe('start');
      expect(names).toContain('delta');
      expect(names.at(-1)).toBe('done');
    }
  });

  test('error: another user’s file is 404; a model that cannot take an image is 422; nothing reaches the model', async () => {
    const owner = await register(app);
    const stranger = await register(app);
    const image = await uploadSample(app, owner.accessToken, 'private.png');
    const before = fake.requests.length;
    await expectError(await analyze(app, stranger.accessToken, image.id, {}), 404, 'not_found');
    await expectError(await analyze(app, owner.accessToken, image.id, { provider: 'ollama', model: 'llama3' }), 422, 'validation_error');
    await expectError(await analyze(app, owner.accessToken, image.id, { provider: 'nope' }), 422, 'validation_error');
    expect(fake.requests.length).toBe(before);
  });
});

describe('file analysis counts against the LLM limits', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(
      undefined,
      llmEnv(fake, { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MAX_REQUESTS: '10000', TIER_LIMITS_FREE: 'minute=1' }),
    );
  });
  afterAll(() => app.close());

  test('error: the second analysis in a minute is 429 for a tier allowing one LLM call a minute', async () => {
    const { accessToken: token } = await register(app);
    const file = await uploadSample(app, token, 'notes.md', 'markdown');
    await expectStatus(await analyze(app, token, file.id, {}), 200);
    await expectError(await analyze(app, token, file.id, {}), 429, 'rate_limited');
  });
});
