// LangChain's ChatOpenAI against Parley's /v1 with a Parley API key, through its public API:
// invoke, stream, bindTools (and a tool round trip), withStructuredOutput (its default JSON schema
// method, function calling and JSON mode).
import { describe, expect, test } from 'bun:test';
import { AIMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { expectedReply } from '../fakes/llm-upstream.ts';
import { uniqueText } from '../helpers/client.ts';
import { toolScenarios } from '../helpers/langchain.ts';
import { upstreamCalls } from '../helpers/llm.ts';
import { serveWithFakeUpstream } from '../helpers/openai.ts';

const suite = serveWithFakeUpstream();

const chat = (model: string, fields: Record<string, unknown> = {}) =>
  new ChatOpenAI({ model, apiKey: suite.server.key, configuration: { baseURL: suite.server.baseURL }, maxRetries: 0, ...fields });

describe('LangChain ChatOpenAI', () => {
  // B2: a tool round trip, and a streamed call.
  toolScenarios((model) => chat(model), { roundTripUpstreams: ['openai'], streamUpstream: 'anthropic' });

  test('happy: invoke with a system message and history, with usage', async () => {
    const reply = await chat('openai/gpt-4o-mini').invoke([
      new SystemMessage('Be brief.'),
      new HumanMessage('first'),
      new AIMessage('answer'),
      new HumanMessage('and now'),
    ]);
    expect(reply.content).toBe(expectedReply('and now'));
    expect(reply.usage_metadata?.output_tokens).toBe(5);
    expect(reply.response_metadata.finish_reason).toBe('stop');
  });

  test('happy: topP and stop reach upstream (B1)', async () => {
    const text = uniqueText('langchain');
    const reply = await chat('openai/gpt-4o-mini', { topP: 0.9 }).invoke(text, { stop: ['END'] });
    expect(reply.content).toBe(expectedReply(text));
    expect(upstreamCalls(suite.fake, text)[0]?.body).toMatchObject({ top_p: 0.9, stop: ['END'] });
  });

  test('happy: stream gives the text in chunks, usage on the last', async () => {
    let text = '';
    let outputTokens: number | undefined;
    for await (const chunk of await chat('anthropic/claude-haiku-4-5').stream('stream this')) {
      text += chunk.content;
      outputTokens = chunk.usage_metadata?.output_tokens ?? outputTokens;
    }
    expect(text).toBe(expectedReply('stream this'));
    expect(outputTokens).toBe(5);
  });

  test('happy: withStructuredOutput by its default method (JSON schema), by function calling and in JSON mode', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    expect(await chat('openai/fake-json').withStructuredOutput(Weather).invoke('weather?')).toEqual({ city: 'city-value', celsius: 1 });
    expect(await chat('openai/gpt-4o-mini').withStructuredOutput(Weather, { method: 'functionCalling' }).invoke('weather?')).toEqual({
      city: 'city-value',
      celsius: 1,
    });
    const Reply = z.object({ reply: z.string() });
    expect(await chat('openai/fake-json').withStructuredOutput(Reply, { method: 'jsonMode' }).invoke('say it as JSON')).toEqual({
      reply: expectedReply('say it as JSON'),
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
