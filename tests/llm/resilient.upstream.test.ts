// streamWithResilience over the real SDK providers against the fake upstream: retries,
// fallbacks, timeouts and aborts as the upstream actually behaves.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createEchoProvider } from '../../src/infra/llm/echo.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import { type ResilienceOptions, streamWithResilience } from '../../src/infra/llm/resilient.ts';
import { type LlmProvider, type ProviderName, UpstreamError } from '../../src/infra/llm/types.ts';
import { expectedReply, type FakeUpstream, PARTIAL_WORDS, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { collect, generationRequests, memoryLog, silentLog, waitFor } from './helpers.ts';

let fake: FakeUpstream;
// fake-slow at 50 ms a word, for the total timeout: several deltas come before a short timeout.
let quickFake: FakeUpstream;
beforeAll(async () => {
  [fake, quickFake] = await Promise.all([
    startFakeUpstream({ slowFirstTokenMs: 2000, slowChunkMs: 300 }),
    startFakeUpstream({ slowChunkMs: 50 }),
  ]);
});
afterEach(() => {
  fake.reset();
  quickFake.reset();
});
afterAll(() => Promise.all([fake.stop(), quickFake.stop()]));

const echo = createEchoProvider({ delayMs: 0 });

describe.each(['openai', 'anthropic'] as const)('%s with resilience', (name) => {
  const provider = (upstream: FakeUpstream): LlmProvider =>
    name === 'openai'
      ? createOpenAiProvider({ apiKey: 'k', baseUrl: upstream.openaiBaseURL })
      : createAnthropicProvider({ apiKey: 'k', baseUrl: upstream.anthropicBaseURL });
  const model = name === 'openai' ? 'gpt-4o-mini' : 'claude-haiku-4-5';

  function run(primaryModel: string, overrides: Partial<ResilienceOptions> & { fallback?: boolean; upstream?: FakeUpstream } = {}) {
    const { fallback, upstream = fake, ...rest } = overrides;
    return streamWithResilience({
      providers: new Map<ProviderName, LlmProvider>([
        [name, provider(upstream)],
        ['echo', echo],
      ]),
      attempts: [{ provider: name, model: primaryModel }, ...(fallback ? [{ provider: 'echo' as const, model: 'echo' }] : [])],
      request: { messages: [{ role: 'user', content: 'hello world' }], maxTokens: 32, temperature: 0.5 },
      signal: new AbortController().signal,
      firstTokenTimeoutMs: 5000,
      idleTimeoutMs: 10_000,
      totalTimeoutMs: 10_000,
      maxRetries: 2,
      retryBaseMs: 10,
      log: silentLog,
      ...rest,
    });
  }
  const upstreamCalls = () => generationRequests(fake.requests).length;

  test('happy: an attempt event, the deltas, one done', async () => {
    const out = await collect(run(model));
    expect(out.error).toBeUndefined();
    expect(out.events[0]).toEqual({ type: 'attempt', provider: name, model });
    expect(out.text).toBe(expectedReply('hello world'));
    expect(out.events.at(-1)?.type).toBe('done');
    expect(out.done?.usage.outputTokens).toBe(5);
  });

  test('error: 400 is not retried: exactly one upstream request, then UpstreamError', async () => {
    const out = await collect(run('fake-error-400'));
    expect(upstreamCalls()).toBe(1);
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).options.status).toBe(400);
    expect(out.attempts).toEqual([`${name}:fake-error-400`]);
  });

  test('error: 400 goes straight to the fallback', async () => {
    const out = await collect(run('fake-error-400', { fallback: true }));
    expect(upstreamCalls()).toBe(1);
    expect(out.attempts).toEqual([`${name}:fake-error-400`, 'echo:echo']);
    expect(out.text).toBe('hello world');
    expect(out.done?.finishReason).toBe('stop');
  });

  test.each([429, 500, 503])('error: a single %d is retried and the retry succeeds', async (status) => {
    fake.failNext(1, status);
    const out = await collect(run(model, { fallback: true }));
    expect(upstreamCalls()).toBe(2);
    expect(out.error).toBeUndefined();
    expect(out.attempts).toEqual([`${name}:${model}`, `${name}:${model}`]);
    expect(out.text).toBe(expectedReply('hello world'));
  });

  test('error: a persistent 500 exhausts the retries, then throws', async () => {
    const { log, lines } = memoryLog();
    const out = await collect(run('fake-error-500', { log }));
    expect(upstreamCalls()).toBe(3); // 1 + maxRetries
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).options).toMatchObject({ status: 500, retryable: true });
    expect(lines.map((l) => l.next)).toEqual(['retry', 'retry', 'fallback']);
  });

  test('error: a persistent 500 exhausts the retries, then the fallback answers', async () => {
    const out = await collect(run('fake-error-500', { fallback: true }));
    expect(upstreamCalls()).toBe(3);
    expect(out.error).toBeUndefined();
    expect(out.attempts).toEqual([...Array<string>(3).fill(`${name}:fake-error-500`), 'echo:echo']);
    expect(out.text).toBe('hello world');
  });

  test('error: a stream truncated before any delta is retried', async () => {
    fake.failNext(1, 200, {}); // 200 with no events at all: no finish, nothing yielded
    const out = await collect(run(model));
    expect(upstreamCalls()).toBe(2);
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('hello world'));
  });

  test('error: a stream truncated after deltas is thrown, not retried nor sent to the fallback', async () => {
    const out = await collect(run('fake-truncated', { fallback: true }));
    expect(upstreamCalls()).toBe(1);
    expect(out.text).toBe(splitWords(expectedReply('hello world')).slice(0, PARTIAL_WORDS).join(''));
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as Error).message).toBe('upstream stream ended before it finished');
    expect(out.attempts).toEqual([`${name}:fake-truncated`]);
  });

  test('error: a mid-stream error after deltas is thrown, not retried', async () => {
    const out = await collect(run('fake-mid-stream-error', { fallback: true }));
    expect(upstreamCalls()).toBe(1);
    expect(out.text).toBe('Fake reply to: ');
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect(out.done).toBeUndefined();
  });

  test('error: a slow first token aborts the attempt, retries, then fails', async () => {
    const out = await collect(run('fake-slow-first-token', { firstTokenTimeoutMs: 150, maxRetries: 1 }));
    expect(out.ms).toBeLessThan(1500); // 2 × 150 ms, far from the fake's 2000 ms
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as Error).message).toContain('no first token within 150 ms');
    const recs = generationRequests(fake.requests);
    expect(recs.length).toBe(2);
    await waitFor(() => recs.every((r) => r.aborted));
    expect(fake.activeTimers).toBe(0);
  });

  test('error: a slow first token falls back once the retries are spent', async () => {
    const out = await collect(run('fake-slow-first-token', { firstTokenTimeoutMs: 150, maxRetries: 0, fallback: true }));
    expect(out.attempts).toEqual([`${name}:fake-slow-first-token`, 'echo:echo']);
    expect(out.text).toBe('hello world');
    await waitFor(() => generationRequests(fake.requests)[0]!.aborted);
  });

  test('happy: the caller aborting mid-stream ends the iteration within 100 ms, quietly', async () => {
    const ac = new AbortController();
    let abortedAt = 0;
    const out = await collect(run('fake-slow', { signal: ac.signal, fallback: true }), (event) => {
      if (event.type === 'delta' && !abortedAt) {
        abortedAt = performance.now();
        ac.abort();
      }
    });
    expect(performance.now() - abortedAt).toBeLessThan(100);
    expect(out.error).toBeUndefined();
    expect(out.done).toBeUndefined();
    expect(out.attempts).toEqual([`${name}:fake-slow`]); // no retry, no fallback
    const rec = generationRequests(fake.requests)[0]!;
    await waitFor(() => rec.aborted);
    expect(upstreamCalls()).toBe(1);
  });

  test('error: the total timeout stops a stream that is still going', async () => {
    // fake-slow would take 2.7 s on quickFake; its first deltas come within the 250 ms.
    const out = await collect(run('fake-slow', { totalTimeoutMs: 250, fallback: true, upstream: quickFake }));
    expect(out.ms).toBeLessThan(650);
    expect(out.deltas.length).toBeGreaterThan(0);
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as Error).message).toContain('timed out after 250 ms');
    expect(out.attempts).toEqual([`${name}:fake-slow`]);
    await waitFor(() => generationRequests(quickFake.requests)[0]!.aborted);
  });

  test('happy: a consumer that stops reading aborts the upstream request', async () => {
    for await (const event of run('fake-slow')) {
      if (event.type === 'delta') break;
    }
    await waitFor(() => generationRequests(fake.requests)[0]!.aborted);
    expect(fake.activeTimers).toBe(0);
  });
});
