// LangChain's ChatOpenAI with `useResponsesApi: true` (POST /v1/responses) against Parley with a
// Parley API key, through its public API: invoke with history, stream, bindTools and a tool round
// trip (its follow-up sends the earlier output items back as they came), withStructuredOutput,
// and previous_response_id (B9).
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { AIMessage, HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { uniqueText } from '../helpers/client.ts';
import { bodyOf, llmEnv, textOfContent, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const getWeather = tool(async ({ city }: { city: string }) => `sunny in ${city}`, {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: z.object({ city: z.string() }),
});

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

  test('happy: bindTools gets tool calls, and the tool result sent back gets the answer', async () => {
    const model = chat('openai/fake-tool-call').bindTools([getWeather]);
    const question = new HumanMessage('weather in Paris?');
    const first = await model.invoke([question]);
    expect(first.tool_calls?.map((call) => [call.name, call.args])).toEqual([['get_weather', { city: 'city-value' }]]);
    const result = await getWeather.invoke(first.tool_calls![0]!);
    expect(result).toBeInstanceOf(ToolMessage);
    const second = await model.invoke([question, first, result]);
    expect(second.text).toBe(expectedReply('tool result: sunny in city-value'));
  });

  test('happy: bindTools streamed, from Anthropic, puts the tool call together', async () => {
    let gathered: Awaited<ReturnType<ReturnType<ChatOpenAI['bindTools']>['invoke']>> | undefined;
    for await (const chunk of await chat('anthropic/fake-tool-call').bindTools([getWeather]).stream('weather?')) {
      gathered = gathered ? gathered.concat(chunk) : chunk;
    }
    expect(gathered?.tool_calls?.map((call) => [call.name, call.args])).toEqual([['get_weather', { city: 'city-value' }]]);
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
