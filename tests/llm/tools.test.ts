// Tool calling in the provider layer: each SDK-backed provider sends the request's tools and
// tool turns in its upstream's wire format, and reads tool calls back (streamed in pieces) as
// whole `tool_call` events, ending with finish reason `tool_calls`. Against the fake upstream.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createOllamaProvider } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import type { ChatMessage, LlmProvider, ToolDefinition } from '../../src/infra/llm/types.ts';
import { expectedReply, expectedToolArguments, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { bodyOf, collect, generationRequests, request } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const weather: ToolDefinition = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
};
const time: ToolDefinition = {
  name: 'get_time',
  parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } } },
};

/** A round trip: the question, the model's call, what the tool answered. */
const roundTrip: ChatMessage[] = [
  { role: 'user', content: 'weather in Paris?' },
  { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
  { role: 'tool', toolCallId: 'call_1', content: '{"temp":21}' },
];

type Case = { name: 'openai' | 'anthropic' | 'ollama'; make: () => LlmProvider };
const cases: Case[] = [
  { name: 'openai', make: () => createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL }) },
  { name: 'anthropic', make: () => createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL }) },
  { name: 'ollama', make: () => createOllamaProvider({ baseUrl: fake.ollamaBaseURL }) },
];

describe.each(cases)('$name provider with tools', ({ name, make }) => {
  const sent = () => bodyOf(generationRequests(fake.requests)[0]);

  test('happy: a tool call streamed in pieces comes out whole, then done with finish reason tool_calls', async () => {
    const out = await collect(make().stream(request('fake-tool-call', 'weather in Paris?', { tools: [weather, time] })));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('');
    expect(out.toolCalls).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: expectedToolArguments(weather.parameters) }]);
    expect(JSON.parse(out.toolCalls[0]!.arguments)).toEqual({ city: 'city-value', days: 1 });
    expect(out.events.filter((event) => event.type === 'tool_call').map((event) => (event as { index: number }).index)).toEqual([0]);
    expect(out.done?.finishReason).toBe('tool_calls');
    expect(out.done?.usage.outputTokens).toBeGreaterThan(0);
  });

  test('happy: parallel calls come out in order; parallel calls off asks upstream for one', async () => {
    const both = await collect(make().stream(request('fake-parallel-tool-calls', 'both?', { tools: [weather, time] })));
    expect(both.toolCalls.map((call) => call.name)).toEqual(['get_weather', 'get_time']);
    expect(new Set(both.toolCalls.map((call) => call.id)).size).toBe(2);
    fake.reset();
    const one = await collect(
      make().stream(request('fake-parallel-tool-calls', 'one?', { tools: [weather, time], parallelToolCalls: false })),
    );
    expect(one.toolCalls.map((call) => call.name)).toEqual(['get_weather']);
    if (name === 'anthropic') expect(sent().tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    else expect(sent().parallel_tool_calls).toBe(false);
  });

  test('happy: the tools and a forced choice reach upstream in its own words', async () => {
    const out = await collect(make().stream(request('any-model', 'time?', { tools: [weather, time], toolChoice: { name: 'get_time' } })));
    expect(out.toolCalls.map((call) => [call.name, call.arguments])).toEqual([['get_time', '{"zone":"UTC"}']]);
    const body = sent();
    if (name === 'anthropic') {
      expect(body.tools).toEqual([
        { name: 'get_weather', description: 'The weather in a city', input_schema: weather.parameters },
        { name: 'get_time', input_schema: time.parameters },
      ]);
      expect(body.tool_choice).toEqual({ type: 'tool', name: 'get_time' });
    } else {
      expect(body.tools).toEqual([
        { type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weather.parameters } },
        { type: 'function', function: { name: 'get_time', parameters: time.parameters } },
      ]);
      expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'get_time' } });
    }
  });

  test('happy: required and none map to the upstream’s choices', async () => {
    const required = await collect(make().stream(request('any-model', 'x', { tools: [weather], toolChoice: 'required' })));
    expect(required.toolCalls.map((call) => call.name)).toEqual(['get_weather']);
    expect(sent().tool_choice).toEqual(name === 'anthropic' ? { type: 'any' } : 'required');
    fake.reset();
    const none = await collect(make().stream(request('fake-tool-call', 'x', { tools: [weather], toolChoice: 'none' })));
    expect(none.toolCalls).toEqual([]);
    expect(none.text).toBe(expectedReply('x'));
    expect(none.done?.finishReason).toBe('stop');
    expect(sent().tool_choice).toEqual(name === 'anthropic' ? { type: 'none' } : 'none');
  });

  test('happy: a tool round trip goes upstream in its wire format, and the model answers about the result', async () => {
    const out = await collect(make().stream(request('fake-tool-call', 'unused', { messages: roundTrip, tools: [weather] })));
    expect(out.error).toBeUndefined();
    expect(out.toolCalls).toEqual([]);
    expect(out.text).toBe(expectedReply('tool result: {"temp":21}'));
    expect(out.done?.finishReason).toBe('stop');
    const messages = sent().messages;
    if (name === 'anthropic') {
      expect(messages).toEqual([
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: '{"temp":21}' }] },
      ]);
    } else {
      expect(messages).toEqual([
        { role: 'user', content: 'weather in Paris?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ]);
    }
  });

  test('happy: a history with a tool round and no tools in the request is taken (a question after the round, tools dropped)', async () => {
    const history: ChatMessage[] = [...roundTrip, { role: 'assistant', content: 'It is 21°.' }, { role: 'user', content: 'thanks' }];
    const out = await collect(make().stream(request('gpt-4o-mini', 'unused', { messages: history })));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('thanks'));
    expect(out.toolCalls).toEqual([]);
    if (name === 'anthropic') {
      // Anthropic refuses tool blocks without tools: the history's tools are declared, none to be called.
      expect(sent()).toMatchObject({ tools: [{ name: 'get_weather', input_schema: { type: 'object' } }], tool_choice: { type: 'none' } });
    } else {
      expect(sent().tools).toBeUndefined();
    }
  });

  test('happy: two results of two parallel calls answer them together', async () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'both?' },
      {
        role: 'assistant',
        content: 'Looking.',
        toolCalls: [
          { id: 'a', name: 'get_weather', arguments: '{"city":"Oslo"}' },
          { id: 'b', name: 'get_time', arguments: '' },
        ],
      },
      { role: 'tool', toolCallId: 'a', content: 'cold' },
      { role: 'tool', toolCallId: 'b', content: 'noon' },
    ];
    const out = await collect(make().stream(request('gpt', 'unused', { messages, tools: [weather, time] })));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply(name === 'anthropic' ? 'tool result: cold noon' : 'tool result: noon'));
    if (name === 'anthropic') {
      expect(sent().messages).toEqual([
        { role: 'user', content: 'both?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking.' },
            { type: 'tool_use', id: 'a', name: 'get_weather', input: { city: 'Oslo' } },
            { type: 'tool_use', id: 'b', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'a', content: 'cold' },
            { type: 'tool_result', tool_use_id: 'b', content: 'noon' },
          ],
        },
      ]);
    }
  });

  test('happy: a structured output request gets JSON for its schema (fake-json)', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' }, sure: { type: 'boolean' } }, required: ['answer', 'sure'] };
    const out = await collect(
      make().stream(
        request('fake-json', 'x', {
          sampling: { responseFormat: { type: 'json_schema', jsonSchema: { name: 'verdict', schema, strict: true } } },
        }),
      ),
    );
    expect(JSON.parse(out.text)).toEqual({ answer: 'answer-value', sure: true });
    if (name === 'anthropic') expect(sent().output_config).toEqual({ format: { type: 'json_schema', schema } });
    else expect(sent().response_format).toEqual({ type: 'json_schema', json_schema: { name: 'verdict', schema, strict: true } });
  });
});

describe('translations of request options', () => {
  test('happy: anthropic gets the reasoning effort and the end-user id in its own fields', async () => {
    const provider = createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL });
    await collect(provider.stream(request('claude-haiku-4-5', 'x', { sampling: { reasoningEffort: 'minimal', user: 'u-7' } })));
    const body = bodyOf(generationRequests(fake.requests)[0]);
    expect(body.output_config).toEqual({ effort: 'low' });
    expect(body.metadata).toEqual({ user_id: 'u-7' });
    expect(body).not.toHaveProperty('reasoning_effort');
  });

  test('happy: openai gets reasoning_effort, and max_completion_tokens when the caller named it so', async () => {
    const provider = createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL });
    await collect(
      provider.stream(request('o4-mini', 'x', { maxTokens: 99, sampling: { reasoningEffort: 'high', maxCompletionTokens: true } })),
    );
    const body = bodyOf(generationRequests(fake.requests)[0]);
    expect(body.reasoning_effort).toBe('high');
    expect(body.max_completion_tokens).toBe(99);
    expect(body).not.toHaveProperty('max_tokens');
  });

  test('happy: openai returns log probabilities when asked, as logprobs events after their text', async () => {
    const provider = createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL });
    expect(provider.logprobs).toBe(true);
    expect(createOllamaProvider({ baseUrl: fake.ollamaBaseURL }).logprobs).toBe(false);
    const out = await collect(provider.stream(request('gpt-4o-mini', 'odds', { sampling: { logprobs: { top: 1 } } })));
    const logprobs = out.events.flatMap((event) => (event.type === 'logprobs' ? event.content : []));
    expect(logprobs.map((entry) => entry.token).join('')).toBe(out.text);
    expect(logprobs[0]).toEqual({
      token: 'Fake ',
      logprob: -0.25,
      bytes: [...Buffer.from('Fake ')],
      topLogprobs: [{ token: 'Fake ', logprob: -0.25, bytes: [...Buffer.from('Fake ')] }],
    });
    expect(out.events.findIndex((event) => event.type === 'logprobs')).toBe(out.events.findIndex((event) => event.type === 'delta') + 1);
    expect(bodyOf(generationRequests(fake.requests)[0])).toMatchObject({ logprobs: true, top_logprobs: 1 });
  });

  test('happy: a prompt that is only a system message reaches anthropic as the user turn', async () => {
    const provider = createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL });
    const out = await collect(provider.stream(request('claude-haiku-4-5', 'x', { messages: [], system: 'Say hello.' })));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('Say hello.'));
    const body = bodyOf(generationRequests(fake.requests)[0]);
    expect(body.messages).toEqual([{ role: 'user', content: 'Say hello.' }]);
    expect(body).not.toHaveProperty('system');
  });
});
