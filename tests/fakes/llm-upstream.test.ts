// Proves the fake upstream speaks the real wire formats by driving it through the real SDKs.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  expectedReply,
  type FakeUpstream,
  LONG_REPLY_EXTRA_WORDS,
  PARTIAL_WORDS,
  type RecordedRequest,
  SCENARIO_MODELS,
  splitWords,
  startFakeUpstream,
} from './llm-upstream.ts';

let fake: FakeUpstream;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  fake = await startFakeUpstream({ slowFirstTokenMs: 300, slowChunkMs: 50 });
  openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseURL, maxRetries: 0 });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const user = (content: string) => [{ role: 'user' as const, content }];
const modelOf = (r: RecordedRequest) => (r.body as { model?: string } | undefined)?.model;

async function waitFor(pred: () => boolean, timeoutMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await Bun.sleep(10);
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

const ERROR_STATUSES = [400, 401, 429, 500, 503] as const;

test('happy: exports the documented scenario ids', () => {
  expect(SCENARIO_MODELS).toContain('fake-truncated');
  expect(SCENARIO_MODELS).toContain('fake-mid-stream-error');
  const errorIds: string[] = SCENARIO_MODELS.filter((m) => m.startsWith('fake-error-'));
  expect(errorIds).toEqual(ERROR_STATUSES.map((s) => `fake-error-${s}`));
  expect(splitWords('Fake reply to:  a b').join('')).toBe('Fake reply to:  a b');
});

describe('OpenAI SDK', () => {
  test('happy: non-streaming completion with usage and recorded request', async () => {
    const res = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: [{ type: 'text', text: 'hello there' }] },
      ],
    });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('gpt-4o-mini');
    expect(res.choices[0]?.message).toMatchObject({ role: 'assistant', content: 'Fake reply to: hello there' });
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });

    const [rec] = fake.requests;
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/chat/completions', aborted: false, completed: true });
    expect(rec?.headers.authorization).toBe('Bearer test');
    expect(modelOf(rec!)).toBe('gpt-4o-mini');
  });

  test('happy: one delta per word, finish chunk, usage chunk, [DONE]', async () => {
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: user('stream me please'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(expectedReply('stream me please'));
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(6);
    expect(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop').length).toBe(1);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 });
    expect(fake.requests[0]?.completed).toBe(true);
  });

  test.each(ERROR_STATUSES)('error: fake-error-%d surfaces as APIError with that status', async (status) => {
    const err = await rejection(openai.chat.completions.create({ model: `fake-error-${status}`, messages: user('hi') }));
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const apiErr = err as InstanceType<typeof OpenAI.APIError>;
    expect(apiErr.status).toBe(status);
    expect(typeof apiErr.type).toBe('string');
    if (status === 429) {
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(apiErr.headers?.get('retry-after')).toBe('0');
    }
    if (status === 401) expect(apiErr.code).toBe('invalid_api_key');
  });

  test('error: error scenarios also fail streaming requests before any chunk', async () => {
    const err = await rejection(openai.chat.completions.create({ model: 'fake-error-503', messages: user('hi'), stream: true }));
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
  });

  test('error: failNext: queued failures, SDK retries, custom body', async () => {
    fake.failNext(1, 500);
    const e1 = await rejection(openai.chat.completions.create({ model: 'gpt-4o-mini', messages: user('a') }));
    expect((e1 as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    // The queue is drained: the next call succeeds.
    const ok = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: user('a') });
    expect(ok.choices[0]?.message.content).toBe(expectedReply('a'));

    fake.reset();
    fake.failNext(2, 503);
    const retrying = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseURL, maxRetries: 2 });
    const res = await retrying.chat.completions.create({ model: 'gpt-4o-mini', messages: user('b') });
    expect(res.choices[0]?.message.content).toBe(expectedReply('b'));
    expect(fake.requests.length).toBe(3);

    fake.failNext(1, 418, { error: { message: 'short and stout', type: 'teapot', code: 'teapot' } });
    const e2 = await rejection(openai.chat.completions.create({ model: 'gpt-4o-mini', messages: user('c') }));
    expect((e2 as InstanceType<typeof OpenAI.APIError>).status).toBe(418);
    expect((e2 as Error).message).toContain('short and stout');
  });

  test('error: fake-truncated: stream ends without finish_reason or [DONE]', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-truncated', messages: user('cut me'), stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.some((c) => c.choices[0]?.finish_reason)).toBe(false);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(splitWords(expectedReply('cut me')).slice(0, PARTIAL_WORDS).join(''));
    // Non-streaming: the JSON body is cut off, so parsing fails. (`expect(apiPromise).rejects` can't be used:
    // APIPromise parses lazily in then(), which Bun's matcher bypasses.)
    const err = await rejection(openai.chat.completions.create({ model: 'fake-truncated', messages: user('x') }));
    expect(err).toBeInstanceOf(SyntaxError);
  });

  test('error: fake-mid-stream-error: deltas then an in-band APIError', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-mid-stream-error', messages: user('boom'), stream: true });
    const deltas: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const c of stream) deltas.push(c.choices[0]?.delta.content ?? '');
      })(),
    );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toContain('server had an error');
    expect(deltas.join('')).toBe('Fake reply to: ');
  });

  test('happy: fake-slow-first-token delays the response', async () => {
    const t0 = performance.now();
    const res = await openai.chat.completions.create({ model: 'fake-slow-first-token', messages: user('wait') });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    expect(res.choices[0]?.message.content).toBe(expectedReply('wait'));
  });

  test('happy: fake-long streams the long reply', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-long', messages: user('go'), stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(expectedReply('go', 'fake-long'));
    expect(text.split(' ').length).toBeGreaterThan(LONG_REPLY_EXTRA_WORDS);
  });

  test('happy: aborting a fake-slow stream is recorded and leaves no timers', async () => {
    const ac = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'fake-slow', messages: user('slowly'), stream: true },
      { signal: ac.signal },
    );
    const deltas: string[] = [];
    // openai@7 ends the iteration quietly (no throw) when the caller's signal aborts.
    for await (const c of stream) {
      deltas.push(c.choices[0]?.delta.content ?? '');
      if (deltas.length === 3) ac.abort();
    }
    expect(deltas).toEqual(['', 'Fake ', 'reply ']);
    const rec = fake.requests.find((r) => modelOf(r) === 'fake-slow')!;
    await waitFor(() => rec.aborted);
    expect(rec.completed).toBe(false);
    expect(fake.activeTimers).toBe(0); // cleared synchronously by the abort
  });

  test('happy: aborting while waiting for the first byte is recorded too', async () => {
    const ac = new AbortController();
    const pending = rejection(
      openai.chat.completions.create({ model: 'fake-slow-first-token', messages: user('x') }, { signal: ac.signal }),
    );
    await waitFor(() => fake.requests.length === 1);
    ac.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitFor(() => fake.requests[0]!.aborted);
    expect(fake.activeTimers).toBe(0);
  });

  test('happy: models.list parses', async () => {
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toEqual(['gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'llama3.2:latest', 'qwen2.5:0.5b']);
  });
});

describe('Anthropic SDK', () => {
  const params = (model: string, text: string) => ({
    model,
    max_tokens: 256,
    system: 'Be brief.',
    messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text }] }],
  });

  test('happy: non-streaming message with usage and auth header', async () => {
    const msg = await anthropic.messages.create(params('claude-haiku-4-5', 'hello there'));
    expect(msg.type).toBe('message');
    expect(msg.role).toBe('assistant');
    expect(msg.content).toEqual([{ type: 'text', text: 'Fake reply to: hello there', citations: null }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.stop_sequence).toBeNull();
    expect(msg.usage).toMatchObject({ input_tokens: 4, output_tokens: 5 });

    const rec = fake.requests[0]!;
    expect(rec.path).toBe('/v1/messages');
    expect(rec.headers['x-api-key'] === 'test' || rec.headers.authorization === 'Bearer test').toBe(true);
    expect(rec.headers['anthropic-version']).toBeString();
  });

  test('happy: event order, text deltas and final message', async () => {
    const raw = await anthropic.messages.create({ ...params('claude-haiku-4-5', 'one two'), stream: true });
    const types: string[] = [];
    for await (const ev of raw) types.push(ev.type);
    const words = splitWords(expectedReply('one two')).length;
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      ...Array<string>(words).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);

    const stream = anthropic.messages.stream(params('claude-haiku-4-5', 'stream me'));
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe(expectedReply('stream me'));
    expect(deltas.length).toBe(5);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 4, output_tokens: 5 });
  });

  const ANTHROPIC_TYPES = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    429: 'rate_limit_error',
    500: 'api_error',
    503: 'api_error',
  };
  test.each(ERROR_STATUSES)('error: fake-error-%d surfaces as APIError with that status', async (status) => {
    const err = await rejection(anthropic.messages.create(params(`fake-error-${status}`, 'hi')));
    expect(err).toBeInstanceOf(Anthropic.APIError);
    const apiErr = err as InstanceType<typeof Anthropic.APIError>;
    expect(apiErr.status).toBe(status);
    expect(apiErr.error).toMatchObject({ type: 'error', error: { type: ANTHROPIC_TYPES[status] } });
    if (status === 429) expect(apiErr.headers?.get('retry-after')).toBe('0');
  });

  test('error: failNext with SDK retries', async () => {
    fake.failNext(1, 503);
    const retrying = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseURL, maxRetries: 1 });
    const msg = await retrying.messages.create(params('claude-haiku-4-5', 'again'));
    expect(msg.content[0]).toMatchObject({ type: 'text', text: expectedReply('again') });
    expect(fake.requests.length).toBe(2);
  });

  test('error: fake-truncated: no message_stop, finalMessage rejects', async () => {
    const stream = anthropic.messages.stream(params('fake-truncated', 'cut me'));
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const err = await rejection(stream.finalMessage());
    expect(err).toBeInstanceOf(Anthropic.AnthropicError);
    expect((err as Error).message).toContain('stream ended without producing a Message');
    expect(deltas.join('')).toBe('Fake reply to: ');

    // The raw event stream just ends: the caller must notice the missing message_stop.
    const raw = await anthropic.messages.create({ ...params('fake-truncated', 'cut me'), stream: true });
    const types: string[] = [];
    for await (const ev of raw) types.push(ev.type);
    expect(types).not.toContain('message_stop');
    expect(types.filter((t) => t === 'content_block_delta').length).toBe(PARTIAL_WORDS);
  });

  test('error: fake-mid-stream-error: event: error becomes an overloaded APIError', async () => {
    const err = await rejection(anthropic.messages.stream(params('fake-mid-stream-error', 'boom')).finalMessage());
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ error: { type: 'overloaded_error' } });
  });

  test('happy: aborting a fake-slow stream is recorded and leaves no timers', async () => {
    const ac = new AbortController();
    const stream = anthropic.messages.stream(params('fake-slow', 'slowly'), { signal: ac.signal });
    let n = 0;
    stream.on('text', () => {
      if (++n === 3) ac.abort();
    });
    const err = await rejection(stream.finalMessage());
    expect(err).toBeInstanceOf(Anthropic.APIUserAbortError);
    const rec = fake.requests.find((r) => modelOf(r) === 'fake-slow')!;
    await waitFor(() => rec.aborted);
    expect(rec.completed).toBe(false);
    expect(fake.activeTimers).toBe(0); // cleared synchronously by the abort
  });

  test('happy: models.list parses', async () => {
    const page = await anthropic.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-7']);
    expect(page.data[0]).toMatchObject({ type: 'model', display_name: 'claude-sonnet-4-6' });
    expect(page.has_more).toBe(false);
  });

  test('error: missing max_tokens is rejected like the real API', async () => {
    const res = await fetch(`${fake.anthropicBaseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'test' },
      body: JSON.stringify({ model: 'claude-haiku-4-5', messages: user('x') }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});
