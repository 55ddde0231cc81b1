// streamWithResilience with scripted in-memory providers: the rules, backoff and timer hygiene.
import { afterEach, describe, expect, test } from 'bun:test';
import { backoffMs, type ResilienceOptions, streamWithResilience } from '../../src/infra/llm/resilient.ts';
import {
  type GenerationEvent,
  type GenerationRequest,
  type LlmProvider,
  type ProviderName,
  UnknownModelError,
  UpstreamError,
} from '../../src/infra/llm/types.ts';
import { collect, memoryLog, silentLog } from './helpers.ts';

type Script = (request: GenerationRequest, call: number) => AsyncGenerator<GenerationEvent>;

/** A provider whose every call runs `script`; it records the requests and when they came. */
function scripted(name: ProviderName, script: Script) {
  const calls: { request: GenerationRequest; at: number }[] = [];
  const provider: LlmProvider = {
    name,
    listModels: async () => [],
    stream: (request) => {
      calls.push({ request, at: performance.now() });
      return script(request, calls.length - 1);
    },
  };
  return { provider, calls };
}

const done: GenerationEvent = { type: 'done', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } };
const fail = (status: number) => new UpstreamError(`HTTP ${status}`, { status, retryable: status === 429 || status >= 500 });

async function* ok(text = 'hi'): AsyncGenerator<GenerationEvent> {
  yield { type: 'delta', text };
  yield done;
}

/** Never answers (and ignores its signal): only our own timers can end it. */
async function* hang(): AsyncGenerator<GenerationEvent> {
  await new Promise(() => {});
}

function options(providers: LlmProvider[], overrides: Partial<ResilienceOptions> = {}): ResilienceOptions {
  return {
    providers: new Map(providers.map((p) => [p.name, p])),
    attempts: providers.map((p) => ({ provider: p.name, model: `${p.name}-model` })),
    request: { messages: [{ role: 'user', content: 'q' }], maxTokens: 10, temperature: 0 },
    signal: new AbortController().signal,
    firstTokenTimeoutMs: 1000,
    idleTimeoutMs: 5000,
    totalTimeoutMs: 5000,
    maxRetries: 2,
    retryBaseMs: 10,
    log: silentLog,
    ...overrides,
  };
}

// Counts the timers created while a test runs, to prove every one of them is cleared.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
let live = new Set<unknown>();
function trackTimers() {
  live = new Set();
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = realSetTimeout(() => {
      live.delete(timer);
      fn(...args);
    }, ms);
    live.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer: Parameters<typeof clearTimeout>[0]) => {
    live.delete(timer);
    realClearTimeout(timer);
  }) as typeof clearTimeout;
}
afterEach(() => {
  globalThis.setTimeout = realSetTimeout;
  globalThis.clearTimeout = realClearTimeout;
});

describe('rules', () => {
  test('happy: each attempt gets its own signal, linked to the caller, with the model of the attempt', async () => {
    const a = scripted('openai', async function* (_req, call) {
      if (call === 0) throw fail(500);
      yield* ok();
    });
    const out = await collect(streamWithResilience(options([a.provider])));
    expect(out.error).toBeUndefined();
    expect(a.calls.length).toBe(2);
    const [first, second] = a.calls.map((c) => c.request);
    expect(first?.signal).not.toBe(second?.signal);
    expect(first?.signal.aborted).toBe(true); // the failed attempt was closed
    expect(second?.model).toBe('openai-model');
    expect(second?.messages).toEqual([{ role: 'user', content: 'q' }]);
  });

  test('error: backoff doubles: retryBaseMs × 2^n plus jitter', async () => {
    // biome-ignore lint/correctness/useYield: an upstream that fails before its first event
    const a = scripted('openai', async function* () {
      throw fail(503);
    });
    await collect(streamWithResilience(options([a.provider], { retryBaseMs: 60, maxRetries: 2 })));
    const [t0, t1, t2] = a.calls.map((c) => c.at);
    expect(a.calls.length).toBe(3);
    expect(t1! - t0!).toBeGreaterThanOrEqual(55);
    expect(t2! - t1!).toBeGreaterThanOrEqual(115);
    for (let n = 0; n < 4; n++) {
      const ms = backoffMs(n, 100);
      expect(ms).toBeGreaterThanOrEqual(100 * 2 ** n);
      expect(ms).toBeLessThan(100 * 2 ** n + 100);
    }
    expect(backoffMs(30, 1000)).toBe(10_000); // capped
  });

  test('error: errors that are not UpstreamError are not retried but do fall back', async () => {
    // biome-ignore lint/correctness/useYield: an upstream that fails before its first event
    const a = scripted('openai', async function* () {
      throw new TypeError('bug');
    });
    const b = scripted('echo', async function* () {
      yield* ok('fallback');
    });
    const out = await collect(streamWithResilience(options([a.provider, b.provider])));
    expect(a.calls.length).toBe(1);
    expect(out.text).toBe('fallback');
    expect(out.attempts).toEqual(['openai:openai-model', 'echo:echo-model']);
  });

  test('error: a provider that ends without done counts as a retryable failure', async () => {
    const a = scripted('openai', async function* (_req, call) {
      if (call === 0) return;
      yield* ok();
    });
    const out = await collect(streamWithResilience(options([a.provider])));
    expect(a.calls.length).toBe(2);
    expect(out.text).toBe('hi');
  });

  test('error: after a delta, a failure is thrown as is: no retry, no fallback', async () => {
    const a = scripted('openai', async function* () {
      yield { type: 'delta', text: 'par' };
      throw fail(503);
    });
    const b = scripted('echo', async function* () {
      yield* ok();
    });
    const out = await collect(streamWithResilience(options([a.provider, b.provider])));
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).options.status).toBe(503);
    expect(a.calls.length).toBe(1);
    expect(b.calls.length).toBe(0);
    expect(out.text).toBe('par');
  });

  test('error: unconfigured and repeated attempts are skipped; nothing configured is UnknownModelError', async () => {
    // biome-ignore lint/correctness/useYield: an upstream that fails before its first event
    const a = scripted('openai', async function* () {
      throw fail(400);
    });
    const { log, lines } = memoryLog();
    const out = await collect(
      streamWithResilience({
        ...options([a.provider], { log }),
        attempts: [
          { provider: 'openai', model: 'm' },
          { provider: 'anthropic', model: 'x' },
          { provider: 'openai', model: 'm' },
        ],
      }),
    );
    expect(a.calls.length).toBe(1);
    expect((out.error as UpstreamError).options.status).toBe(400); // the real failure, not the skip
    expect(lines.some((l) => l.msg === 'llm.attempt_skipped')).toBe(true);

    const none = await collect(streamWithResilience({ ...options([]), attempts: [{ provider: 'anthropic', model: 'x' }] }));
    expect(none.error).toBeInstanceOf(UnknownModelError);
  });

  test('error: a provider that never answers is cut by the first-token timeout, even if it ignores its signal', async () => {
    const a = scripted('openai', hang);
    const out = await collect(streamWithResilience(options([a.provider], { firstTokenTimeoutMs: 50, maxRetries: 1 })));
    expect(a.calls.length).toBe(2);
    expect(out.ms).toBeLessThan(500);
    expect((out.error as Error).message).toContain('no first token within 50 ms');
    expect(a.calls.every((c) => c.request.signal.aborted)).toBe(true);
  });

  test('error: the total timeout covers retries and backoff too', async () => {
    // biome-ignore lint/correctness/useYield: an upstream that fails before its first event
    const a = scripted('openai', async function* () {
      throw fail(500);
    });
    const out = await collect(streamWithResilience(options([a.provider], { totalTimeoutMs: 100, retryBaseMs: 1000, maxRetries: 5 })));
    expect(out.ms).toBeLessThan(400);
    expect((out.error as Error).message).toContain('timed out after 100 ms');
    expect(a.calls.length).toBe(1);
  });
});

describe('aborts', () => {
  test('happy: the caller aborting during backoff stops at once: no further attempt, no error', async () => {
    const ac = new AbortController();
    const a = scripted('openai', async function* () {
      setTimeout(() => ac.abort(), 20);
      throw fail(500);
    });
    const out = await collect(streamWithResilience(options([a.provider], { signal: ac.signal, retryBaseMs: 2000 })));
    expect(out.ms).toBeLessThan(200);
    expect(out.error).toBeUndefined();
    expect(a.calls.length).toBe(1);
  });

  test('happy: an already aborted caller gets nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const a = scripted('openai', async function* () {
      yield* ok();
    });
    const out = await collect(streamWithResilience(options([a.provider], { signal: ac.signal })));
    expect(out.events).toEqual([]);
    expect(a.calls.length).toBe(0);
  });

  test('happy: the caller aborting while the provider hangs ends the iteration promptly', async () => {
    const ac = new AbortController();
    const a = scripted('openai', hang);
    setTimeout(() => ac.abort(), 30);
    const out = await collect(streamWithResilience(options([a.provider], { signal: ac.signal })));
    expect(out.ms).toBeLessThan(130);
    expect(out.error).toBeUndefined();
    expect(a.calls[0]?.request.signal.aborted).toBe(true);
  });
});

describe('timers', () => {
  const scenarios: [string, () => ResilienceOptions][] = [
    ['success', () => options([scripted('openai', () => ok()).provider])],
    [
      'retries then failure',
      () =>
        options([
          // biome-ignore lint/correctness/useYield: an upstream that fails before its first event
          scripted('openai', async function* () {
            throw fail(500);
          }).provider,
        ]),
    ],
    ['first-token timeouts', () => options([scripted('openai', hang).provider], { firstTokenTimeoutMs: 20, maxRetries: 1 })],
    ['total timeout', () => options([scripted('openai', hang).provider], { totalTimeoutMs: 30 })],
    [
      'caller abort mid-stream',
      () => {
        const ac = new AbortController();
        const p = scripted('openai', async function* () {
          yield { type: 'delta', text: 'a' };
          ac.abort();
          await new Promise(() => {});
        });
        return options([p.provider], { signal: ac.signal });
      },
    ],
  ];
  test.each(scenarios)('error: none is left running after %s', async (_name, make) => {
    trackTimers();
    await collect(streamWithResilience(make()));
    expect(live.size).toBe(0);
  });

  test('happy: none is left running when the consumer stops reading early', async () => {
    trackTimers();
    const a = scripted('openai', async function* () {
      yield { type: 'delta', text: 'a' };
      yield { type: 'delta', text: 'b' };
      yield done;
    });
    for await (const event of streamWithResilience(options([a.provider]))) {
      if (event.type === 'delta') break;
    }
    expect(live.size).toBe(0);
    expect(a.calls[0]?.request.signal.aborted).toBe(true);
  });
});
