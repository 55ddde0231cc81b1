// LangChain's ChatAnthropic (its own @anthropic-ai/sdk copy, key in x-api-key) against Parley's
// /v1/messages with a Parley API key, through its public API: invoke, stream, bindTools (and a
// tool round trip) and withStructuredOutput, routed to echo and to the fake OpenAI and Anthropic
// upstreams. Its anthropicApiUrl is the server (the SDK appends /v1/messages).
import { describe, expect, setDefaultTimeout, test } from 'bun:test';
import { ChatAnthropic } from '@langchain/anthropic';
import { AIMessage, type AIMessageChunk, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { expectedReply } from '../fakes/llm-upstream.ts';
import { uniqueText } from '../helpers/client.ts';
import { toolScenarios } from '../helpers/langchain.ts';
import { upstreamCalls, wordCount } from '../helpers/llm.ts';
import { serveWithFakeUpstream } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

const suite = serveWithFakeUpstream();

const chat = (model: string, fields: Record<string, unknown> = {}) =>
  new ChatAnthropic({ model, apiKey: suite.server.key, anthropicApiUrl: suite.server.url, maxRetries: 0, maxTokens: 256, ...fields });

describe('LangChain ChatAnthropic', () => {
  toolScenarios((model) => chat(model), { roundTripUpstreams: ['anthropic', 'openai'], streamUpstream: 'anthropic' });

  test('happy: invoke with a system message and history, with usage, from the OpenAI upstream', async () => {
    const reply = await chat('openai/gpt-4o-mini').invoke([
      new SystemMessage('Be brief.'),
      new HumanMessage('first'),
      new AIMessage('answer'),
      new HumanMessage('and now'),
    ]);
    expect(reply.content).toBe(expectedReply('and now'));
    expect(reply.usage_metadata?.output_tokens).toBe(wordCount(expectedReply('and now')));
    expect(reply.response_metadata.stop_reason).toBe('end_turn');
    const sent = suite.fake.requests.find((request) => request.path === '/v1/chat/completions')!.body as { messages: unknown[] };
    expect(sent.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
  });

  test('happy: stop sequences and the token limit reach the Anthropic upstream', async () => {
    const text = uniqueText('langchain');
    const reply = await chat('anthropic/claude-haiku-4-5', { maxTokens: 77 }).invoke(text, { stop: ['END'] });
    expect(reply.content).toBe(expectedReply(text));
    expect(upstreamCalls(suite.fake, text)[0]?.body).toMatchObject({ stop_sequences: ['END'], max_tokens: 77 });
  });

  test('happy: stream gives the text in chunks, usage gathered', async () => {
    let gathered: AIMessageChunk | undefined;
    for await (const chunk of await chat('echo/echo').stream('stream this please')) gathered = gathered ? gathered.concat(chunk) : chunk;
    expect(gathered?.text).toBe('stream this please');
    expect(gathered?.usage_metadata?.output_tokens).toBe(3);
  });

  test('happy: withStructuredOutput by its default method (a forced tool) and by JSON schema', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    expect(await chat('anthropic/claude-haiku-4-5').withStructuredOutput(Weather).invoke('weather?')).toEqual({
      city: 'city-value',
      celsius: 1,
    });
    expect(await chat('openai/gpt-4o-mini').withStructuredOutput(Weather).invoke('weather?')).toEqual({ city: 'city-value', celsius: 1 });
    expect(await chat('anthropic/fake-json').withStructuredOutput(Weather, { method: 'jsonSchema' }).invoke('weather?')).toEqual({
      city: 'city-value',
      celsius: 1,
    });
  });

  test('error: a wrong key is an authentication error; an unknown model a 404', async () => {
    const wrong = await chat('echo/echo', { apiKey: 'pk_wrong' })
      .invoke('x')
      .catch((error: { status?: number; lc_error_code?: string }) => error);
    expect((wrong as { status?: number }).status).toBe(401);
    expect((wrong as { lc_error_code?: string }).lc_error_code).toBe('MODEL_AUTHENTICATION');
    const unknown = await chat('echo/nope')
      .invoke('x')
      .catch((error: { status?: number; lc_error_code?: string }) => error);
    expect((unknown as { status?: number }).status).toBe(404);
    expect((unknown as { lc_error_code?: string }).lc_error_code).toBe('MODEL_NOT_FOUND');
  });
});
