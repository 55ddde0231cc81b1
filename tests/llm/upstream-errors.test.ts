// What an upstream said when it failed stays out of UpstreamError's message (the text clients
// get) and goes to its `detail` (the log), with credentials masked (issue "Reliability", kind 6;
// break-it F12). Each SDK provider against the fake upstream, Ollama's admin calls, and the
// resilience layer's log line.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createOllamaProvider, ollamaModelStatus, startOllamaModel } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import { streamWithResilience } from '../../src/infra/llm/resilient.ts';
import { logSafeDetail } from '../../src/infra/llm/shared.ts';
import { type LlmProvider, UpstreamError } from '../../src/infra/llm/types.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { closedPortUrl, collect, memoryLog, request } from './helpers.ts';

/** What an upstream's error body says that no client may see. */
const MARKER = 'internal secret stack at /srv/openai/x.py:12';
const PROVIDER_KEY = 'sk-provider-key-0123456789abcdef';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

type Case = { name: 'openai' | 'anthropic' | 'ollama'; make: (baseUrl?: string) => LlmProvider; model: string };
const cases: Case[] = [
  {
    name: 'openai',
    make: (base) => createOpenAiProvider({ apiKey: PROVIDER_KEY, baseUrl: base ? `${base}/v1` : fake.openaiBaseURL }),
    model: 'gpt-4o-mini',
  },
  {
    name: 'anthropic',
    make: (base) => createAnthropicProvider({ apiKey: PROVIDER_KEY, baseUrl: base ?? fake.anthropicBaseURL }),
    model: 'claude-haiku-4-5',
  },
  { name: 'ollama', make: (base) => createOllamaProvider({ baseUrl: base ?? fake.ollamaBaseURL }), model: 'llama3.2' },
];

/** The error body each wire would send, carrying the marker. */
const bodyWith = (name: Case['name'], message: string) =>
  name === 'anthropic' ? { type: 'error', error: { type: 'api_error', message } } : { error: { message, type: 'server_error' } };

const errorOf = async (stream: AsyncIterable<unknown>) => {
  const out = await collect(stream as never);
  expect(out.error).toBeInstanceOf(UpstreamError);
  return out.error as UpstreamError;
};

describe.each(cases)('$name provider', ({ name, make, model }) => {
  test.each([401, 500])('error: an upstream %d names the provider and the status only; its body is the detail', async (status) => {
    fake.failNext(1, status, bodyWith(name, MARKER));
    const error = await errorOf(make().stream(request(model, 'hi')));
    expect(error.message).toBe(`The model provider (${name}) answered HTTP ${status}`);
    expect(error.message).not.toContain('secret');
    expect(error.options.status).toBe(status);
    expect(error.options.detail).toContain(MARKER);
  });

  test('error: the fake’s own error bodies (“… (fake upstream)”) do not reach the message either', async () => {
    const error = await errorOf(make().stream(request('fake-error-503', 'hi')));
    expect(error.message).toBe(`The model provider (${name}) answered HTTP 503`);
    expect(error.options.detail).toContain('fake upstream');
  });

  test('error: an in-band error after some deltas is reported without its text', async () => {
    const out = await collect(make().stream(request('fake-mid-stream-error', 'hi')));
    const error = out.error as UpstreamError;
    expect(error).toBeInstanceOf(UpstreamError);
    expect(out.text.length).toBeGreaterThan(0);
    expect(error.message).not.toMatch(/fake upstream|overloaded/i);
    expect(error.message).toContain(name);
  });

  test('error: an unreachable upstream is “could not be reached”, the transport error is the detail', async () => {
    const error = await errorOf(make(await closedPortUrl()).stream(request(model, 'hi')));
    expect(error.message).toBe(`The model provider (${name}) could not be reached`);
    expect(error.options.detail?.length).toBeGreaterThan(0);
  });

  test('security: credentials in the body, and the provider’s own key, are masked in the detail', async () => {
    fake.failNext(1, 401, bodyWith(name, `Incorrect API key provided: ${PROVIDER_KEY}; Authorization: Bearer pk_abcdefgh12345678`));
    const error = await errorOf(make().stream(request(model, 'hi')));
    expect(error.options.detail).toContain('Incorrect API key provided');
    expect(error.options.detail).not.toContain(PROVIDER_KEY);
    expect(error.options.detail).not.toContain('pk_abcdefgh12345678');
    expect(error.options.detail).toContain('[redacted]');
  });
});

describe('an HTML error page from a proxy in front of the upstream', () => {
  const page = `<html><body><h1>502 Bad Gateway</h1><pre>${MARKER}</pre></body></html>`;
  let proxy: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    proxy = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response(page, { status: 502, headers: { 'content-type': 'text/html' } }),
    });
  });
  afterAll(() => proxy.stop(true));

  test.each(cases)('error: $name: a 502 page is “answered HTTP 502”, the page is the detail', async ({ name, make, model }) => {
    const error = await errorOf(make(`http://127.0.0.1:${proxy.port}`).stream(request(model, 'hi')));
    expect(error.message).toBe(`The model provider (${name}) answered HTTP 502`);
    expect(error.message).not.toContain('html');
    expect(error.options.detail).toContain(MARKER);
  });
});

describe('ollama admin calls', () => {
  test('error: an answer of 500 is “answered HTTP 500”, what Ollama said is the detail', async () => {
    fake.failNext(1, 500, { error: MARKER });
    let error: unknown;
    await startOllamaModel(fake.ollamaBaseURL, 'llama3.2').catch((e: unknown) => {
      error = e;
    });
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).message).toBe('The model provider (ollama) answered HTTP 500');
    expect((error as UpstreamError).options.detail).toContain(MARKER);
  });

  test('error: an unreachable Ollama is “could not be reached”, without its address', async () => {
    const base = await closedPortUrl();
    const error = await ollamaModelStatus(base, 'llama3.2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).message).toBe('The model provider (ollama) could not be reached');
    expect((error as UpstreamError).message).not.toContain('127.0.0.1');
    expect((error as UpstreamError).options.detail).toContain('/api/');
  });
});

describe('the resilience layer', () => {
  test('error: the caller gets the generic message, the log line gets what upstream said', async () => {
    const { log, lines } = memoryLog();
    fake.failNext(3, 500, bodyWith('openai', MARKER));
    const provider = cases[0]!.make();
    const out = await collect(
      streamWithResilience({
        providers: new Map([['openai', provider]]),
        attempts: [{ provider: 'openai', model: 'gpt-4o-mini' }],
        request: { messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, temperature: 0 },
        signal: new AbortController().signal,
        firstTokenTimeoutMs: 5000,
        idleTimeoutMs: 5000,
        totalTimeoutMs: 10_000,
        maxRetries: 2,
        retryBaseMs: 1,
        log,
      }),
    );
    expect((out.error as Error).message).toBe('The model provider (openai) answered HTTP 500');
    const failed = lines.filter((line) => line.msg === 'llm.attempt_failed');
    expect(failed).toHaveLength(3);
    for (const line of failed) {
      expect(line.error).toBe('The model provider (openai) answered HTTP 500');
      expect(String(line.detail)).toContain(MARKER);
    }
    expect(JSON.stringify(lines)).not.toContain(PROVIDER_KEY);
  });

  test('error: a provider that throws something else is “failed”, its message is only logged', async () => {
    const { log, lines } = memoryLog();
    const broken: LlmProvider = {
      name: 'openai',
      listModels: async () => [],
      // biome-ignore lint/correctness/useYield: a provider that fails before its first event
      stream: async function* () {
        throw new TypeError(`cannot read ${MARKER}`);
      },
    };
    const out = await collect(
      streamWithResilience({
        providers: new Map([['openai', broken]]),
        attempts: [{ provider: 'openai', model: 'm' }],
        request: { messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, temperature: 0 },
        signal: new AbortController().signal,
        firstTokenTimeoutMs: 5000,
        idleTimeoutMs: 5000,
        totalTimeoutMs: 10_000,
        maxRetries: 2,
        retryBaseMs: 1,
        log,
      }),
    );
    expect((out.error as Error).message).toBe('The model provider (openai) failed');
    expect(String(lines.find((line) => line.msg === 'llm.attempt_failed')?.detail)).toContain(MARKER);
  });
});

describe('logSafeDetail', () => {
  test('security: masks bearer tokens, sk-/pk_ keys (masked ones too), key=value pairs and given secrets', () => {
    const text = [
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y',
      'Incorrect API key provided: sk-proj-****abcd1234.',
      'key pk_0123456789abcdef',
      'api_key=hunter2-long-enough&x=1',
      '"token": "tok-123456"',
      'my own secret: the-provider-key-42',
    ].join('\n');
    const safe = logSafeDetail(text, ['the-provider-key-42']);
    for (const secret of [
      'eyJhbGciOiJIUzI1NiJ9',
      'sk-proj-****abcd1234',
      'pk_0123456789abcdef',
      'hunter2',
      'tok-123456',
      'the-provider-key-42',
    ])
      expect(safe).not.toContain(secret);
    expect(safe).toContain('Incorrect API key provided');
    expect(safe).toContain('&x=1');
  });

  test('happy: ordinary words that merely contain "sk" or "token" are left alone, and long text is capped', () => {
    expect(logSafeDetail('task-runner risk-assessment max_tokens: 100')).toBe('task-runner risk-assessment max_tokens: 100');
    const long = logSafeDetail('x'.repeat(5000));
    expect(long.length).toBeLessThanOrEqual(1001);
    expect(long.endsWith('…')).toBe(true);
  });
});
