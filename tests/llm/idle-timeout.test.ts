// The idle timeout (LLM_IDLE_TIMEOUT_MS): once a reply has started, an upstream silent for longer
// between two chunks is cut with "the model provider stalled", its request aborted, and (text
// having reached the caller) nothing retried. Chunks of text or reasoning are life; the time the
// consumer holds an event is not upstream's silence; before the first token only the first-token
// timeout applies (issue "Reliability", kind 7).
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createOllamaProvider } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import { type ResilienceOptions, streamWithResilience } from '../../src/infra/llm/resilient.ts';
import type { GenerationEvent, GenerationRequest, LlmProvider } from '../../src/infra/llm/types.ts';
import { expectedReply, type FakeUpstream, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { STALL_WORDS } from '../fakes/upstream-core.ts';
import { collect, generationRequests, memoryLog, silentLog, waitFor } from './helpers.ts';

// In process (scripted providers) timers are all that is measured: 100 ms is plenty. Over HTTP
// (the fake upstream) a little more, so two back-to-back tokens are never taken for a stall.
const IDLE_MS = 100;
const HTTP_IDLE_MS = 150;
const done: GenerationEvent = { type: 'done', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 1 } };

/** A provider whose calls run `script` (with the attempt's request), counted. */
function scripted(script: (request: GenerationRequest) => AsyncGenerator<GenerationEvent>) {
  const requests: GenerationRequest[] = [];
  const provider: LlmProvider = {
    name: 'openai',
    listModels: async () => [],
    stream: (request) => {
      requests.push(request);
      return script(request);
    },
  };
  return { provider, requests };
}

function options(provider: LlmProvider, overrides: Partial<ResilienceOptions> = {}): ResilienceOptions {
  return {
    providers: new Map([[provider.name, provider]]),
    attempts: [{ provider: provider.name, model: 'm' }],
    request: { messages: [{ role: 'user', content: 'q' }], maxTokens: 10, temperature: 0 },
    signal: new AbortController().signal,
    firstTokenTimeoutMs: 1000,
    idleTimeoutMs: IDLE_MS,
    totalTimeoutMs: 10_000,
    maxRetries: 2,
    retryBaseMs: 1,
    log: silentLog,
    ...overrides,
  };
}

describe('idle timeout, scripted', () => {
  test('error: two tokens, then silence: cut after the idle timeout, not retried, the attempt aborted', async () => {
    const { log, lines } = memoryLog();
    const { provider, requests } = scripted(async function* () {
      yield { type: 'delta', text: 'one ' };
      yield { type: 'delta', text: 'two ' };
      await new Promise(() => {}); // silent for ever, and deaf to its signal
    });
    const out = await collect(streamWithResilience(options(provider, { log })));
    expect(out.text).toBe('one two ');
    expect(out.done).toBeUndefined();
    expect((out.error as Error).message).toBe(`the model provider stalled: no token for ${IDLE_MS} ms`);
    expect(out.ms).toBeGreaterThanOrEqual(IDLE_MS - 10);
    expect(out.ms).toBeLessThan(IDLE_MS + 1000); // far below the total timeout (10 s)
    expect(requests).toHaveLength(1); // text reached the caller: a retry would repeat it
    expect(requests[0]!.signal.aborted).toBe(true);
    expect(lines.find((line) => line.msg === 'llm.attempt_failed')).toMatchObject({ next: 'give up' });
  });

  test('happy: chunks that keep coming within the idle timeout finish, however long the reply takes in all', async () => {
    const { provider } = scripted(async function* () {
      for (let i = 0; i < 8; i++) {
        if (i > 0) await Bun.sleep(IDLE_MS / 3);
        yield { type: 'delta', text: `w${i} ` };
      }
      yield done;
    });
    const out = await collect(streamWithResilience(options(provider)));
    expect(out.error).toBeUndefined();
    expect(out.deltas).toHaveLength(8);
    expect(out.ms).toBeGreaterThan(IDLE_MS * 2); // longer in all than the idle timeout
  });

  test('happy: reasoning between text chunks is life: a model thinking midway is not cut', async () => {
    const { provider } = scripted(async function* () {
      yield { type: 'delta', text: 'first ' };
      for (let i = 0; i < 5; i++) {
        await Bun.sleep(IDLE_MS / 3);
        yield { type: 'reasoning', text: `thought ${i} ` };
      }
      yield { type: 'delta', text: 'last' };
      yield done;
    });
    const out = await collect(streamWithResilience(options(provider)));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('first last');
    expect(out.reasoning).toContain('thought 4');
  });

  test('happy: before the first token only the first-token timeout applies, even when it is longer than the idle one', async () => {
    const { provider } = scripted(async function* () {
      await Bun.sleep(IDLE_MS * 2);
      yield { type: 'delta', text: 'late but fine' };
      yield done;
    });
    const out = await collect(streamWithResilience(options(provider, { firstTokenTimeoutMs: IDLE_MS * 10 })));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('late but fine');
  });

  test('happy: the time the consumer holds an event is not upstream silence', async () => {
    const { provider } = scripted(async function* () {
      yield { type: 'delta', text: 'a' };
      yield { type: 'delta', text: 'b' };
      yield done;
    });
    const events: string[] = [];
    for await (const event of streamWithResilience(options(provider))) {
      events.push(event.type);
      if (event.type === 'delta') await Bun.sleep(IDLE_MS * 2); // a slow consumer
    }
    expect(events).toEqual(['attempt', 'delta', 'delta', 'done']);
  });

  test('error: a stall before anything was delivered is the first-token timeout, and that one is retried', async () => {
    const { provider, requests } = scripted(async function* () {
      await new Promise(() => {});
    });
    const out = await collect(streamWithResilience(options(provider, { firstTokenTimeoutMs: 40, maxRetries: 1 })));
    expect((out.error as Error).message).toBe('no first token within 40 ms');
    expect(requests).toHaveLength(2);
  });
});

describe('idle timeout against the fake upstream (fake-stall)', () => {
  let fake: FakeUpstream;
  beforeAll(async () => {
    fake = await startFakeUpstream();
  });
  afterEach(() => fake.reset());
  afterAll(() => fake.stop());

  const providers: [string, () => LlmProvider][] = [
    ['openai', () => createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL })],
    ['anthropic', () => createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL })],
    ['ollama', () => createOllamaProvider({ baseUrl: fake.ollamaBaseURL })],
  ];

  test.each(providers)(
    'error: %s: the stalled reply ends after the idle timeout and its upstream request is aborted',
    async (_name, make) => {
      const provider = make();
      const out = await collect(
        streamWithResilience({
          ...options(provider, { idleTimeoutMs: HTTP_IDLE_MS }),
          attempts: [{ provider: provider.name, model: 'fake-stall' }],
          maxRetries: 2,
        }),
      );
      expect(out.text).toBe(splitWords(expectedReply('q', 'fake-stall')).slice(0, STALL_WORDS).join(''));
      expect((out.error as Error).message).toBe(`the model provider stalled: no token for ${HTTP_IDLE_MS} ms`);
      expect(out.ms).toBeLessThan(HTTP_IDLE_MS + 1500);
      const calls = generationRequests(fake.requests);
      expect(calls).toHaveLength(1);
      await waitFor(() => calls[0]!.aborted, 2000);
      expect(calls[0]!.completed).toBe(false);
    },
  );
});
