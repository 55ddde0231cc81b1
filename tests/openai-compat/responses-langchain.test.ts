// LangChain's ChatOpenAI with `useResponsesApi: true` (POST /v1/responses) against Parley with a
// Parley API key, through its public API: invoke with history, stream, bindTools and a tool round
// trip (its follow-up sends the earlier output items back as they came), withStructuredOutput,
// and previous_response_id (B9).
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { AIMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { uniqueText } from '../helpers/client.ts';
import { toolScenarios } from '../helpers/langchain.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

describe.each(kinds)('LangChain ChatOpenAI with useResponsesApi (%s)', (_label, kind) => {
  let server: Listening;
  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake));
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  const chat = (model: string, fields: Record<string, unknown> = {}) =>
    new ChatOpenAI({
      model,
      apiKey: server.key,
      configuration: { baseURL: server.baseURL },
      maxRetries: 0,
      useResponsesApi: true,
      ...fields,
    });

  toolScenarios((model) => chat(model), { roundTripUpstreams: ['openai'], streamUpstream: 'anthropic' });

  test('happy: invoke with a system message and history, with usage and the response id', async () => {
    const text = uniqueText('langchain');
    const reply = await chat('openai/gpt-4o-mini', { temperature: 0.4 }).invoke([
      new SystemMessage('Be brief.'),
      new HumanMessage('first'),
      new AIMessage('answer'),
      new HumanMessage(text),
    ]);
    expect(reply.text).toBe(expectedReply(text));
    expect(reply.usage_metadata?.output_tokens).toBeGreaterThan(0);
    expect(reply.response_metadata.id).toMatch(/^resp_/);
    const [call] = upstreamCalls(fake, text);
    expect(bodyOf(call!).messages?.map((m) => [m.role, textOfContent(m.content)])).toEqual([
      ['system', 'Be brief.'],
      ['user', 'first'],
      ['assistant', 'answer'],
      ['user', text],
    ]);
    expect(bodyOf(call!).temperature).toBe(0.4);
  });

  test('happy: stream gives the text in chunks, usage on the last, from Anthropic', async () => {
    const text = uniqueText('streamed');
    let streamed = '';
    let outputTokens: number | undefined;
    for await (const chunk of await chat('anthropic/claude-haiku-4-5').stream(text)) {
      streamed += chunk.text;
      outputTokens = chunk.usage_metadata?.output_tokens ?? outputTokens;
    }
    expect(streamed).toBe(expectedReply(text));
    expect(outputTokens).toBeGreaterThan(0);
  });

  test('happy: withStructuredOutput (JSON schema) parses the model’s JSON', async () => {
    const Weather = z.object({ city: z.string(), celsius: z.number() });
    expect(await chat('openai/fake-json').withStructuredOutput(Weather).invoke('weather?')).toEqual({ city: 'city-value', celsius: 1 });
  });

  test('happy: previous_response_id continues a stored response', async () => {
    const one = uniqueText('kept');
    const first = await chat('openai/gpt-4o-mini').invoke(one);
    const two = uniqueText('follow-up');
    const second = await chat('openai/gpt-4o-mini').invoke(two, { previous_response_id: first.response_metadata.id } as never);
    expect(second.text).toBe(expectedReply(two));
    expect(bodyOf(upstreamCalls(fake, two)[0]!).messages?.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
  });

  test('error: a wrong key is an authentication error; an unknown model a 404', async () => {
    const wrong = await chat('echo/echo', { apiKey: 'pk_wrong' })
      .invoke('x')
      .catch((error: { status?: number }) => error);
    expect((wrong as { status?: number }).status).toBe(401);
    const unknown = await chat('echo/nope')
      .invoke('x')
      .catch((error: { status?: number }) => error);
    expect((unknown as { status?: number }).status).toBe(404);
  });
});
