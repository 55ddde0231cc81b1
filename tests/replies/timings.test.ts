// Honest timings: a streamed response is logged and timed until its stream ends, not until its
// headers leave; the time to the first token and the whole upstream call are histograms by provider.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, register, testEnv } from '../helpers/client.ts';
import { readSse } from '../helpers/sse.ts';

const delayMs = 40;
const words = 'one two three four five six';

/** The value of one Prometheus sample line, or undefined. */
const sample = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('timings of streamed replies', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, { ...testEnv, ECHO_DELAY_MS: String(delayMs) });
  });
  afterAll(() => app.close());

  test('happy: the access log and the duration histogram cover the whole stream; TTFT and upstream time are recorded per provider', async () => {
    const { accessToken } = await register(app);
    const started = performance.now();
    const response = await app.request('/api/v1/chat/stream', {
      method: 'POST',
      headers: bearer(accessToken),
      json: { message: words, provider: 'echo' },
    });
    const { events } = await readSse(response);
    const streamMs = performance.now() - started;
    expect(events.at(-1)?.event).toBe('done');
    // Five pauses between six words: the stream cannot be shorter than that.
    const minimumMs = (words.split(' ').length - 1) * delayMs;
    expect(streamMs).toBeGreaterThanOrEqual(minimumMs);
    await Bun.sleep(5);

    const line = app.logs.find((entry) => entry.msg === 'request' && entry.route === '/api/v1/chat/stream');
    expect(line).toBeDefined();
    expect(Number(line!.durationMs)).toBeGreaterThanOrEqual(minimumMs);

    const metrics = await (await app.request('/metrics')).text();
    expect(sample(metrics, 'parley_http_request_duration_seconds_sum{route="/api/v1/chat/stream"}')!).toBeGreaterThanOrEqual(
      minimumMs / 1000,
    );
    expect(sample(metrics, 'parley_llm_time_to_first_token_seconds_count{provider="echo"}')).toBe(1);
    expect(sample(metrics, 'parley_llm_time_to_first_token_seconds_sum{provider="echo"}')!).toBeLessThan(minimumMs / 1000);
    expect(sample(metrics, 'parley_llm_upstream_duration_seconds_count{provider="echo"}')).toBe(1);
    expect(sample(metrics, 'parley_llm_upstream_duration_seconds_sum{provider="echo"}')!).toBeGreaterThanOrEqual(minimumMs / 1000);
  });
});
