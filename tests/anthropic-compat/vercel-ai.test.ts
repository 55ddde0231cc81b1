// The Vercel AI SDK's Anthropic provider (@ai-sdk/anthropic, which sends the key as x-api-key, or
// Bearer with authToken) against Parley's /v1/messages, through its public API only: generateText,
// streamText, tools round the loop, structured output and errors, routed to echo and to the fake
// OpenAI and Anthropic upstreams. Its baseURL carries /v1 (it appends /messages itself).
import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { createAnthropic } from '@ai-sdk/anthropic';
import { APICallError, generateText, streamText } from 'ai';
import { expectedReply } from '../fakes/llm-upstream.ts';
import { uniqueText } from '../helpers/client.ts';
import { upstreamCalls, wordCount } from '../helpers/llm.ts';
import { serveWithFakeUpstream } from '../helpers/openai.ts';
import { toolAndOutputScenarios } from '../helpers/vercel-ai.ts';

setDefaultTimeout(60_000);
// Parley's models are unknown to the provider, which warns of each call's default token limit: not the point here.
(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

const suite = serveWithFakeUpstream();

const withKey = (id: string, key = suite.server.key) => createAnthropic({ baseURL: `${suite.server.url}/v1`, apiKey: key })(id);
const withToken = (id: string) => createAnthropic({ baseURL: `${suite.server.url}/v1`, authToken: suite.server.key })(id);

describe('Vercel AI SDK, @ai-sdk/anthropic', () => {
  toolAndOutputScenarios((id) => withKey(id), {
    toolUpstreams: ['anthropic', 'openai'],
    streamUpstream: 'anthropic',
    jsonUpstream: 'anthropic',
  });

  test('happy: generateText with a system prompt and history, x-api-key and Bearer alike', async () => {
    const messages = [
      { role: 'user' as const, content: 'first' },
      { role: 'assistant' as const, content: 'answer' },
      { role: 'user' as const, content: 'and now' },
    ];
    for (const model of [withKey('openai/gpt-4o-mini'), withToken('openai/gpt-4o-mini')]) {
      const result = await generateText({ model, system: 'Be brief.', messages });
      expect(result.text).toBe(expectedReply('and now'));
      expect(result.finishReason).toBe('stop');
      expect(result.usage.outputTokens).toBe(wordCount(expectedReply('and now')));
    }
    const sent = suite.fake.requests.filter((request) => request.path === '/v1/chat/completions');
    expect(sent.length).toBe(2);
    expect((sent[0]!.body as { messages: unknown[] }).messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
  });

  test('happy: topP, stopSequences and maxOutputTokens reach the Anthropic upstream as its fields', async () => {
    const text = uniqueText('sampling');
    const result = await generateText({
      model: withKey('anthropic/claude-haiku-4-5'),
      prompt: text,
      stopSequences: ['END'],
      maxOutputTokens: 50,
    });
    expect(result.text).toBe(expectedReply(text));
    expect(upstreamCalls(suite.fake, text)[0]?.body).toMatchObject({ stop_sequences: ['END'], max_tokens: 50 });
  });

  test('happy: streamText streams the text, with usage, from echo', async () => {
    const result = streamText({ model: withKey('echo/echo'), prompt: 'stream this please' });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe('stream this please');
    expect((await result.usage).outputTokens).toBe(3);
    expect(await result.finishReason).toBe('stop');
  });

  test('error: a wrong key and an unknown model are APICallErrors with the status', async () => {
    const wrong = await generateText({ model: withKey('echo/echo', 'pk_wrong'), prompt: 'x', maxRetries: 0 }).catch(
      (error: unknown) => error,
    );
    expect(APICallError.isInstance(wrong) && wrong.statusCode).toBe(401);
    const unknown = await generateText({ model: withKey('echo/nope'), prompt: 'x', maxRetries: 0 }).catch((error: unknown) => error);
    expect(APICallError.isInstance(unknown) && unknown.statusCode).toBe(404);
    expect(APICallError.isInstance(unknown) && unknown.message).toContain('model: echo/nope');
  });
});
