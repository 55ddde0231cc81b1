// How a provider's stream ends, and the thinking some models stream before they answer, for each
// SDK-backed provider against the fake upstream (and OpenAI's `[DONE]` against hand-made bodies):
// a stream that reaches its terminal marker is finished whatever its finish reason says; a stream
// cut before it never is; reasoning comes out as its own kind of event and keeps an attempt alive.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createOllamaProvider } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import { createUpstreamFetch } from '../../src/infra/llm/pool.ts';
import { streamWithResilience } from '../../src/infra/llm/resilient.ts';
import { type GenerationEvent, type LlmProvider, UpstreamError } from '../../src/infra/llm/types.ts';
import {
  expectedReasoning,
  expectedReply,
  type FakeUpstream,
  PARTIAL_WORDS,
  splitWords,
  startFakeUpstream,
  WHOLE_ANSWER_CHUNKS,
} from '../fakes/llm-upstream.ts';
import { collect, request, silentLog } from './helpers.ts';

const SLOW_CHUNK_MS = 50;

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: SLOW_CHUNK_MS });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

// Both ways the app reaches upstream: the SDK's own fetch, and the connection pool it runs on.
const pool = createUpstreamFetch(16);
type Case = { name: 'openai' | 'anthropic' | 'ollama'; via: 'fetch' | 'pool'; make: () => LlmProvider };
const cases: Case[] = (['fetch', 'pool'] as const).flatMap((via) => {
  const fetch = via === 'pool' ? { fetch: pool } : {};
  return [
    { name: 'openai' as const, via, make: () => createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL, ...fetch }) },
    { name: 'anthropic' as const, via, make: () => createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL, ...fetch }) },
    { name: 'ollama' as const, via, make: () => createOllamaProvider({ baseUrl: fake.ollamaBaseURL, ...fetch }) },
  ];
});

const question = 'what is the answer';

describe.each(cases)('$name provider ($via)', ({ name, make }) => {
  const marker = name === 'anthropic' ? 'message_stop' : '[DONE]';

  test(`happy: no finish reason on any chunk, then ${marker}: the reply is whole, finish reason "stop"`, async () => {
    const out = await collect(make().stream(request('fake-no-finish-reason', question)));
    expect(out.error).toBeUndefined();
    expect(out.deltas).toEqual([...WHOLE_ANSWER_CHUNKS]);
    expect(out.text).toBe('the whole answer');
    expect(out.done?.finishReason).toBe('stop');
    expect(out.events.at(-1)).toEqual(out.done!);
    expect(out.done!.usage.inputTokens).toBeGreaterThan(0);
    expect(out.done!.usage.outputTokens).toBeGreaterThan(0);
  });

  test(`happy: an empty finish reason on every chunk, then ${marker}: whole too`, async () => {
    const out = await collect(make().stream(request('fake-empty-finish-reason', question)));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('the whole answer');
    expect(out.done?.finishReason).toBe('stop');
  });

  test(`error: a connection closed abruptly before ${marker} is a cut stream, never a success`, async () => {
    const out = await collect(make().stream(request('fake-cut', question)));
    expect(out.done).toBeUndefined();
    expect(out.text).toBe(splitWords(expectedReply(question)).slice(0, PARTIAL_WORDS).join(''));
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).message).toBe('upstream stream ended before it finished');
    expect((out.error as UpstreamError).options.retryable).toBe(true);
  });

  test(`error: a body that ends cleanly without ${marker} or a finish reason is cut too`, async () => {
    const out = await collect(make().stream(request('fake-truncated', question)));
    expect(out.done).toBeUndefined();
    expect((out.error as UpstreamError).message).toBe('upstream stream ended before it finished');
  });

  test('happy: thinking streams as reasoning events before the reply, never inside it', async () => {
    const out = await collect(make().stream(request('fake-reasoning', question)));
    expect(out.error).toBeUndefined();
    expect(out.reasoning).toBe(expectedReasoning(question));
    expect(out.text).toBe(expectedReply(question));
    const kinds = out.events.map((e) => e.type);
    expect(kinds.lastIndexOf('reasoning')).toBeLessThan(kinds.indexOf('delta'));
    expect(out.deltas.join('')).not.toContain('Thinking');
    expect(out.done?.finishReason).toBe('stop');
  });

  if (name !== 'anthropic') {
    test('happy: thinking under `delta.reasoning` (Ollama, OpenRouter) is reasoning too', async () => {
      const out = await collect(make().stream(request('fake-reasoning-field', question)));
      expect(out.error).toBeUndefined();
      expect(out.reasoning).toBe(expectedReasoning(question));
      expect(out.text).toBe(expectedReply(question));
    });
  }

  test('happy: a first-token timeout shorter than the thinking does not cut a model that keeps thinking', async () => {
    const provider = make();
    const thinking = splitWords(expectedReasoning(question)).length * SLOW_CHUNK_MS;
    const firstTokenTimeoutMs = 150;
    expect(thinking).toBeGreaterThan(firstTokenTimeoutMs);
    const out = await collect(
      streamWithResilience({
        providers: new Map([[provider.name, provider]]),
        attempts: [{ provider: provider.name, model: 'fake-slow-reasoning' }],
        request: { messages: [{ role: 'user', content: question }], maxTokens: 64, temperature: 0 },
        signal: new AbortController().signal,
        firstTokenTimeoutMs,
        idleTimeoutMs: 10_000,
        totalTimeoutMs: 10_000,
        maxRetries: 0,
        retryBaseMs: 1,
        log: silentLog,
      }),
    );
    expect(out.error).toBeUndefined();
    expect(out.ms).toBeGreaterThan(firstTokenTimeoutMs);
    expect(out.reasoning).toBe(expectedReasoning(question));
    expect(out.text).toBe(expectedReply(question));
    expect(out.done?.finishReason).toBe('stop');
  });
});

// OpenAI-compatible bodies cut at awkward places, served by a `fetch` the provider is given.
describe('openai provider: where [DONE] is', () => {
  const enc = new TextEncoder();
  const chunk = (delta: object, finishReason: string | null = null) =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
  /** A provider whose upstream answers `pieces` as the body, one network read each. */
  const providerServing = (pieces: string[]) =>
    createOpenAiProvider({
      apiKey: 'k',
      baseUrl: 'http://upstream.invalid/v1',
      fetch: async () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const piece of pieces) controller.enqueue(enc.encode(piece));
            controller.close();
          },
        });
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
    });
  const run = (pieces: string[]) => collect(providerServing(pieces).stream(request('m', 'q')));
  const answer = chunk({ content: 'the whole ' }) + chunk({ content: 'answer' });

  test('happy: [DONE] split across two reads still ends the reply', async () => {
    const out = await run([answer, 'data: [DO', 'NE]\n\n']);
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('the whole answer');
    expect(out.done?.finishReason).toBe('stop');
  });

  test('happy: CRLF line ends, `data:[DONE]` without its space, and no newline after it', async () => {
    for (const ending of ['data: [DONE]\r\n\r\n', 'data:[DONE]\n\n', 'data: [DONE]']) {
      const out = await run([answer.replaceAll('\n', '\r\n'), ending]);
      expect(out.error).toBeUndefined();
      expect(out.done?.finishReason).toBe('stop');
    }
  });

  test('happy: a server that sends no [DONE] but names its finish reason has finished', async () => {
    const out = await run([answer, chunk({}, 'length')]);
    expect(out.error).toBeUndefined();
    expect(out.done?.finishReason).toBe('length');
  });

  test('happy: a named finish reason wins over the default when [DONE] follows', async () => {
    const out = await run([answer, chunk({}, 'length'), 'data: [DONE]\n\n']);
    expect(out.done?.finishReason).toBe('length');
  });

  test('error: neither [DONE] nor a finish reason: the stream was cut', async () => {
    const out = await run([answer]);
    expect(out.text).toBe('the whole answer');
    expect(out.done).toBeUndefined();
    expect((out.error as Error).message).toBe('upstream stream ended before it finished');
  });

  test('security: reply text that spells out "data: [DONE]" cannot pass a cut stream off as finished', async () => {
    const out = await run([chunk({ content: 'data: [DONE]' }), chunk({ content: '\ndata: [DONE]\n\n' })]);
    expect(out.text).toBe('data: [DONE]\ndata: [DONE]\n\n');
    expect(out.done).toBeUndefined();
    expect((out.error as Error).message).toBe('upstream stream ended before it finished');
  });

  test('happy: reasoning_content and reasoning in one delta are one reasoning event, before the content', async () => {
    const out = await run([
      chunk({ reasoning_content: 'hmm ', reasoning: 'hmm ' }),
      chunk({ reasoning: 'so', content: 'yes' }),
      'data: [DONE]\n\n',
    ]);
    expect(out.events.map((e) => e.type)).toEqual(['reasoning', 'reasoning', 'delta', 'done']);
    expect(out.reasoning).toBe('hmm so');
    expect(out.text).toBe('yes');
  });
});

describe('streamWithResilience and reasoning', () => {
  const scripted = (script: () => AsyncGenerator<GenerationEvent>) => {
    let calls = 0;
    const provider: LlmProvider = {
      name: 'openai',
      listModels: async () => [],
      stream: () => {
        calls++;
        return script();
      },
    };
    return { provider, calls: () => calls };
  };
  const options = (provider: LlmProvider, firstTokenTimeoutMs: number) => ({
    providers: new Map([[provider.name, provider]]),
    attempts: [{ provider: provider.name, model: 'm' }],
    request: { messages: [{ role: 'user' as const, content: 'q' }], maxTokens: 10, temperature: 0 },
    signal: new AbortController().signal,
    firstTokenTimeoutMs,
    idleTimeoutMs: 5000,
    totalTimeoutMs: 5000,
    maxRetries: 2,
    retryBaseMs: 1,
    log: silentLog,
  });

  test('error: reasoning that stops coming is cut by the first-token timeout, counted from its last chunk', async () => {
    const { provider } = scripted(async function* () {
      yield { type: 'reasoning', text: 'thinking' };
      await new Promise(() => {}); // silent forever, signal ignored
    });
    const out = await collect(streamWithResilience({ ...options(provider, 100), maxRetries: 0 }));
    expect(out.reasoning).toBe('thinking');
    expect((out.error as Error).message).toContain('no first token within 100 ms');
    expect(out.ms).toBeGreaterThanOrEqual(90);
    expect(out.ms).toBeLessThan(2000);
  });

  test('error: a failure after reasoning reached the caller is not retried (it would repeat the thinking)', async () => {
    const { provider, calls } = scripted(async function* () {
      yield { type: 'reasoning', text: 'thinking' };
      throw new UpstreamError('boom', { status: 503, retryable: true });
    });
    const out = await collect(streamWithResilience(options(provider, 1000)));
    expect((out.error as Error).message).toBe('boom');
    expect(calls()).toBe(1);
    expect(out.reasoning).toBe('thinking');
  });
});
