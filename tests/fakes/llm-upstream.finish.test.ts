// The fake upstream's scenarios for how a stream ends and for thinking, read raw and through the
// real SDKs: what the wire carries, and what each SDK's iteration does with it.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  expectedReasoning,
  expectedReply,
  type FakeUpstream,
  PARTIAL_WORDS,
  splitWords,
  startFakeUpstream,
  WHOLE_ANSWER_CHUNKS,
} from './llm-upstream.ts';

const SLOW_CHUNK_MS = 60;

let fake: FakeUpstream;
let openai: OpenAI;
let anthropic: Anthropic;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: SLOW_CHUNK_MS });
  openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseURL, maxRetries: 0 });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const user = (content: string) => [{ role: 'user' as const, content }];

/** The `data:` payloads of a raw OpenAI-style stream, parsed where they are JSON. */
async function rawOpenAiStream(model: string, text: string): Promise<unknown[]> {
  const response = await fetch(`${fake.openaiBaseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test' },
    body: JSON.stringify({ model, messages: user(text), stream: true, stream_options: { include_usage: true } }),
  });
  const body = await response.text();
  return body
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice(6))
    .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));
}

type Chunk = { choices: { delta: Record<string, unknown>; finish_reason: unknown }[] };

test('happy: case #5 scenarios answer exactly `the whole answer`, in its two chunks', () => {
  expect(expectedReply('q', 'fake-no-finish-reason')).toBe('the whole answer');
  expect(WHOLE_ANSWER_CHUNKS.join('')).toBe('the whole answer');
});

describe('OpenAI wire', () => {
  test('happy: fake-no-finish-reason is bug report case #5: two chunks with finish_reason null, then [DONE]', async () => {
    const frames = await rawOpenAiStream('fake-no-finish-reason', 'q');
    expect(frames.at(-1)).toBe('[DONE]');
    const chunks = frames.slice(0, -1) as Chunk[];
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([{ content: 'the whole ' }, { content: 'answer' }]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason)).toEqual([null, null]);
  });

  test('happy: fake-empty-finish-reason puts "" on every chunk', async () => {
    const frames = await rawOpenAiStream('fake-empty-finish-reason', 'q');
    expect(frames.at(-1)).toBe('[DONE]');
    expect((frames.slice(0, -1) as Chunk[]).map((c) => c.choices[0]?.finish_reason)).toEqual(['', '']);
  });

  test('happy: the SDK ends its loop quietly on [DONE] even without a finish reason', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-no-finish-reason', messages: user('q'), stream: true });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      expect(chunk.choices[0]?.finish_reason).toBeNull();
    }
    expect(text).toBe('the whole answer');
  });

  test('error: the SDK also ends its loop quietly on a body that just stops (fake-truncated): only the bytes tell [DONE] apart', async () => {
    const frames = await rawOpenAiStream('fake-truncated', 'q');
    expect(frames).not.toContain('[DONE]');
    const stream = await openai.chat.completions.create({ model: 'fake-truncated', messages: user('q'), stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(splitWords(expectedReply('q')).slice(0, PARTIAL_WORDS).join(''));
  });

  test('error: fake-cut drops the connection after the partial reply: the SDK loop throws', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-cut', messages: user('q'), stream: true });
    let text = '';
    let thrown: unknown;
    try {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeDefined();
    expect(text).toBe(splitWords(expectedReply('q')).slice(0, PARTIAL_WORDS).join(''));
    expect(fake.requests[0]?.completed).toBe(false);
  });

  test('error: fake-cut without streaming cuts the JSON body too', async () => {
    let thrown: unknown;
    try {
      await openai.chat.completions.create({ model: 'fake-cut', messages: user('q') });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeDefined();
  });

  test('happy: fake-reasoning streams `reasoning_content` deltas (no content) before the reply', async () => {
    const chunks = (await rawOpenAiStream('fake-reasoning', 'q')).filter((f): f is Chunk => f !== '[DONE]');
    const deltas = chunks.map((c) => c.choices[0]?.delta).filter((d) => d !== undefined);
    const thinking = deltas.filter((d) => 'reasoning_content' in d);
    expect(thinking.map((d) => d.reasoning_content).join('')).toBe(expectedReasoning('q'));
    expect(thinking.every((d) => d.content === undefined)).toBe(true);
    const firstContent = deltas.findIndex((d) => typeof d.content === 'string' && d.content !== '');
    expect(deltas.findLastIndex((d) => 'reasoning_content' in d)).toBeLessThan(firstContent);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe(expectedReply('q'));
  });

  test('happy: fake-reasoning-field uses `reasoning`, and a completion returns it beside the content', async () => {
    const chunks = (await rawOpenAiStream('fake-reasoning-field', 'q')).filter((f): f is Chunk => f !== '[DONE]');
    const thinking = chunks.map((c) => c.choices[0]?.delta).filter((d) => d !== undefined && 'reasoning' in d);
    expect(thinking.map((d) => d!.reasoning).join('')).toBe(expectedReasoning('q'));
    const completion = await openai.chat.completions.create({ model: 'fake-reasoning', messages: user('q') });
    expect(completion.choices[0]?.message).toMatchObject({ content: expectedReply('q'), reasoning_content: expectedReasoning('q') });
  });

  test('happy: fake-slow-reasoning spaces its thinking by slowChunkMs', async () => {
    const stream = await openai.chat.completions.create({ model: 'fake-slow-reasoning', messages: user('q'), stream: true });
    const at: number[] = [];
    const t0 = performance.now();
    for await (const chunk of stream) {
      if ((chunk.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content) at.push(performance.now() - t0);
    }
    expect(at.length).toBe(splitWords(expectedReasoning('q')).length);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(SLOW_CHUNK_MS - 15);
  });
});

describe('Anthropic wire', () => {
  test('happy: fake-no-finish-reason ends with message_stop after a stop_reason of null', async () => {
    const events: Anthropic.RawMessageStreamEvent[] = [];
    const stream = await anthropic.messages.create({ model: 'fake-no-finish-reason', max_tokens: 10, messages: user('q'), stream: true });
    for await (const event of stream) events.push(event);
    expect(events.at(-1)?.type).toBe('message_stop');
    const delta = events.find((e) => e.type === 'message_delta');
    expect(delta?.type === 'message_delta' && delta.delta.stop_reason).toBeNull();
    const text = events.map((e) => (e.type === 'content_block_delta' && e.delta.type === 'text_delta' ? e.delta.text : '')).join('');
    expect(text).toBe('the whole answer');
  });

  test('happy: fake-empty-finish-reason sends a stop_reason of ""', async () => {
    const stream = await anthropic.messages.create({
      model: 'fake-empty-finish-reason',
      max_tokens: 10,
      messages: user('q'),
      stream: true,
    });
    let stopReason: unknown;
    for await (const event of stream) if (event.type === 'message_delta') stopReason = event.delta.stop_reason;
    expect(stopReason).toBe('');
  });

  test('error: fake-cut drops the connection before message_stop: the SDK loop throws', async () => {
    const stream = await anthropic.messages.create({ model: 'fake-cut', max_tokens: 10, messages: user('q'), stream: true });
    const types: string[] = [];
    let thrown: unknown;
    try {
      for await (const event of stream) types.push(event.type);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeDefined();
    expect(types).not.toContain('message_stop');
    expect(types.filter((t) => t === 'content_block_delta')).toHaveLength(PARTIAL_WORDS);
  });

  test('happy: fake-reasoning streams a thinking block (thinking deltas, signature) before the text block', async () => {
    const message = await anthropic.messages.stream({ model: 'fake-reasoning', max_tokens: 10, messages: user('q') }).finalMessage();
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    const [thinking, text] = message.content;
    expect(thinking?.type === 'thinking' && thinking.thinking).toBe(expectedReasoning('q'));
    expect(thinking?.type === 'thinking' && thinking.signature.length).toBeGreaterThan(0);
    expect(text?.type === 'text' && text.text).toBe(expectedReply('q'));
    expect(message.stop_reason).toBe('end_turn');
  });
});
