// Bun's global fetch holds at most 256 connections per process, and the limit is read only at
// start-up. The provider SDKs reach upstream through a pool of their own (LLM_MAX_CONNECTIONS):
// 1,000 replies at once must put 1,000 requests in front of the upstream before any finishes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, register, testEnv } from '../helpers/client.ts';
import { readSse } from '../helpers/sse.ts';

const replies = 1000;

/** An OpenAI-wire upstream that holds every request until `replies` are open at once (or 20 s pass). */
function gatedUpstream() {
  let open = 0;
  let peak = 0;
  let finished = 0;
  let openAtFirstFinish: number | undefined;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const timeout = setTimeout(() => release(), 20_000);
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'gated', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(request) {
      await request.arrayBuffer();
      peak = Math.max(peak, ++open);
      if (open >= replies) release();
      await gate;
      openAtFirstFinish ??= open;
      open--;
      finished++;
      const body = `${chunk({ role: 'assistant', content: 'all ' }, null) + chunk({ content: 'here' }, null) + chunk({}, 'stop')}data: [DONE]\n\n`;
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    stats: () => ({ peak, finished, openAtFirstFinish }),
    stop() {
      clearTimeout(timeout);
      release();
      server.stop(true);
    },
  };
}

describe('upstream connections', () => {
  let app: TestApp;
  let upstream: ReturnType<typeof gatedUpstream>;

  beforeAll(async () => {
    upstream = gatedUpstream();
    app = await createTestApp(undefined, {
      ...testEnv,
      OPENAI_BASE_URL: upstream.url,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_MODELS: 'gated',
      LLM_FIRST_TOKEN_TIMEOUT_MS: '60000',
    });
  });
  afterAll(async () => {
    await app.close();
    upstream.stop();
  });

  test('happy: 1,000 concurrent replies are all in front of the upstream before any finishes', async () => {
    const { accessToken } = await register(app);
    const texts = await Promise.all(
      Array.from({ length: replies }, async () => {
        const response = await app.request('/api/v1/chat/stream', {
          method: 'POST',
          headers: bearer(accessToken),
          json: { message: 'hi', provider: 'openai', model: 'gated' },
        });
        expect(response.status).toBe(200);
        const { events } = await readSse(response);
        return events
          .filter((event) => event.event === 'delta')
          .map((event) => (event.data as { text: string }).text)
          .join('');
      }),
    );
    expect(texts.every((text) => text === 'all here')).toBe(true);
    expect(upstream.stats()).toEqual({ peak: replies, finished: replies, openAtFirstFinish: replies });
  }, 60_000);
});
