// The Vercel AI SDK's default OpenAI provider, `openai(model)`, which speaks the Responses API
// (POST /v1/responses), against Parley with a Parley API key, through its public API only:
// generateText, streamText, tools round the loop (its follow-up turns reference stored items),
// structured output, previousResponseId, and errors it acts on (B9).
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText, streamText } from 'ai';
import { expectedReasoning, expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';
import { toolAndOutputScenarios } from '../helpers/vercel-ai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

describe.each(kinds)('Vercel AI SDK, @ai-sdk/openai default (Responses API) (%s)', (_label, kind) => {
  let server: Listening;
  let openai: ReturnType<typeof createOpenAI>;
  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake));
    openai = createOpenAI({ baseURL: server.baseURL, apiKey: server.key });
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  // Tools round the loop: the SDK's follow-up turns reference the stored items.
  toolAndOutputScenarios((id) => openai(id), { toolUpstreams: ['openai'], streamUpstream: 'anthropic', jsonUpstream: 'openai' });

  test('happy: generateText with a system prompt and history, through /v1/responses', async () => {
    const result = await generateText({
      model: openai('openai/gpt-4o-mini'),
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'and now' },
      ],
      temperature: 0.3,
      maxOutputTokens: 50,
    });
    expect(result.text).toBe(expectedReply('and now'));
    expect(result.finishReason).toBe('stop');
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.response.id).toMatch(/^resp_/);
    const [call] = upstreamCalls(fake, 'and now');
    expect(bodyOf(call!).messages?.map((m) => [m.role, textOfContent(m.content)])).toEqual([
      ['system', 'Be brief.'],
      ['user', 'first'],
      ['assistant', 'answer'],
      ['user', 'and now'],
    ]);
    expect(bodyOf(call!)).toMatchObject({ temperature: 0.3 });
    expect(fake.requests.some((request) => request.path === '/v1/responses')).toBe(false);
  });

  test('happy: streamText streams the text, with usage, from Anthropic', async () => {
    const text = uniqueText('stream');
    const result = streamText({ model: openai('anthropic/claude-haiku-4-5'), prompt: text });
    let streamed = '';
    for await (const delta of result.textStream) streamed += delta;
    expect(streamed).toBe(expectedReply(text));
    expect(await result.finishReason).toBe('stop');
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
  });

  test('happy: a multi-turn conversation sends the earlier reply back as a stored item (item_reference)', async () => {
    const one = uniqueText('turn one');
    const first = await generateText({ model: openai('openai/gpt-4o-mini'), prompt: one });
    const two = uniqueText('turn two');
    // What the SDK sends, seen through its own `fetch` option.
    const sent: { input: { type?: string }[] }[] = [];
    const recording = createOpenAI({
      baseURL: server.baseURL,
      apiKey: server.key,
      fetch: (async (url: string | URL | Request, init?: RequestInit) => {
        sent.push(JSON.parse(String(init?.body)));
        return fetch(url, init);
      }) as typeof fetch,
    });
    const second = await generateText({
      model: recording('openai/gpt-4o-mini'),
      messages: [{ role: 'user', content: one }, ...first.response.messages, { role: 'user', content: two }],
    });
    expect(second.text).toBe(expectedReply(two));
    expect(sent[0]!.input.map((item) => item.type ?? 'message')).toEqual(['message', 'item_reference', 'message']);
    const [call] = upstreamCalls(fake, two);
    expect(bodyOf(call!).messages?.map((m) => [m.role, textOfContent(m.content)])).toEqual([
      ['user', one],
      ['assistant', expectedReply(one)],
      ['user', two],
    ]);
  });

  test('happy: a model’s thinking comes back as reasoning, streamed or not, and a next turn that sends it back works', async () => {
    const text = uniqueText('ponder');
    const result = await generateText({ model: openai('openai/fake-reasoning'), prompt: text });
    expect(result.reasoningText).toBe(expectedReasoning(text));
    expect(result.text).toBe(expectedReply(text));
    const streamed = streamText({ model: openai('anthropic/fake-reasoning'), prompt: text });
    let thought = '';
    for await (const part of streamed.fullStream) if (part.type === 'reasoning-delta') thought += part.text;
    expect(thought).toBe(expectedReasoning(text));
    const next = uniqueText('then');
    const second = await generateText({
      model: openai('openai/gpt-4o-mini'),
      messages: [{ role: 'user', content: text }, ...result.response.messages, { role: 'user', content: next }],
    });
    expect(second.text).toBe(expectedReply(next));
    expect(bodyOf(upstreamCalls(fake, next)[0]!).messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
  });

  test('happy: previousResponseId continues a stored response', async () => {
    const one = uniqueText('remember');
    const first = await generateText({ model: openai('openai/gpt-4o-mini'), prompt: one });
    const two = uniqueText('recall');
    const second = await generateText({
      model: openai('openai/gpt-4o-mini'),
      prompt: two,
      providerOptions: { openai: { previousResponseId: first.response.id } },
    });
    expect(second.text).toBe(expectedReply(two));
    expect(bodyOf(upstreamCalls(fake, two)[0]!).messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
  });

  test('error: a wrong key, an unknown model and an upstream failure are APICallErrors with the status', async () => {
    const wrongKey = createOpenAI({ baseURL: server.baseURL, apiKey: 'pk_wrong' });
    const wrong = await generateText({ model: wrongKey('echo/echo'), prompt: 'x', maxRetries: 0 }).catch((error: unknown) => error);
    expect(APICallError.isInstance(wrong) && wrong.statusCode).toBe(401);
    const unknown = await generateText({ model: openai('echo/nope'), prompt: 'x', maxRetries: 0 }).catch((error: unknown) => error);
    expect(APICallError.isInstance(unknown) && unknown.statusCode).toBe(404);
    const errors: unknown[] = [];
    const failing = streamText({
      model: openai('openai/fake-mid-stream-error'),
      prompt: 'x',
      onError: ({ error }) => void errors.push(error),
    });
    for await (const _ of failing.fullStream) {
      // drained: the failure arrives as an error part
    }
    expect(await failing.finishReason).toBe('error');
  });
});
