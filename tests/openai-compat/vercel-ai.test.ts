// The Vercel AI SDK against Parley's /v1 with a Parley API key, through its public API only:
// `@ai-sdk/openai-compatible` and `@ai-sdk/openai`'s `.chat()` model (Chat Completions), each with
// generateText, streamText, tools (round the loop with `stopWhen`) and structured output.
import { describe, expect, test } from 'bun:test';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, generateText, type LanguageModel, streamText } from 'ai';
import { expectedReply } from '../fakes/llm-upstream.ts';
import { uniqueText } from '../helpers/client.ts';
import { upstreamCalls } from '../helpers/llm.ts';
import { serveWithFakeUpstream } from '../helpers/openai.ts';
import { toolAndOutputScenarios } from '../helpers/vercel-ai.ts';

const suite = serveWithFakeUpstream();

type Flavour = { name: string; model: (id: string, key?: string) => LanguageModel };
const flavours: Flavour[] = [
  {
    name: '@ai-sdk/openai-compatible',
    model: (id, key = suite.server.key) =>
      createOpenAICompatible({
        name: 'parley',
        baseURL: suite.server.baseURL,
        apiKey: key,
        includeUsage: true,
        supportsStructuredOutputs: true,
      })(id),
  },
  {
    name: '@ai-sdk/openai .chat()',
    model: (id, key = suite.server.key) => createOpenAI({ baseURL: suite.server.baseURL, apiKey: key }).chat(id),
  },
];

describe.each(flavours)('Vercel AI SDK, $name', ({ model }) => {
  // B2: tools round the loop, through both upstream wire formats.
  toolAndOutputScenarios((id) => model(id), {
    toolUpstreams: ['openai', 'anthropic'],
    streamUpstream: 'anthropic',
    jsonUpstream: 'openai',
  });

  test('happy: generateText with a system prompt and history', async () => {
    const result = await generateText({
      model: model('openai/gpt-4o-mini'),
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'and now' },
      ],
    });
    expect(result.text).toBe(expectedReply('and now'));
    expect(result.finishReason).toBe('stop');
    expect(result.usage.outputTokens).toBe(5);
  });

  test('happy: topP, stopSequences, seed and maxOutputTokens reach upstream (B1)', async () => {
    const text = uniqueText('sampling');
    const result = await generateText({
      model: model('openai/gpt-4o-mini'),
      prompt: text,
      topP: 0.9,
      stopSequences: ['END'],
      seed: 11,
      maxOutputTokens: 50,
    });
    expect(result.text).toBe(expectedReply(text));
    expect(upstreamCalls(suite.fake, text)[0]?.body).toMatchObject({ top_p: 0.9, stop: ['END'], seed: 11 });
  });

  test('happy: streamText streams the text, with usage', async () => {
    const result = streamText({ model: model('anthropic/claude-haiku-4-5'), prompt: 'stream this' });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    expect(text).toBe(expectedReply('stream this'));
    expect((await result.usage).outputTokens).toBe(5);
  });

  test('error: a wrong key and an unknown model are APICallErrors with the status', async () => {
    const wrong = await generateText({ model: model('echo/echo', 'pk_wrong'), prompt: 'x', maxRetries: 0 }).catch(
      (error: unknown) => error,
    );
    expect(APICallError.isInstance(wrong) && wrong.statusCode).toBe(401);
    const unknown = await generateText({ model: model('echo/nope'), prompt: 'x', maxRetries: 0 }).catch((error: unknown) => error);
    expect(APICallError.isInstance(unknown) && unknown.statusCode).toBe(404);
  });
});
