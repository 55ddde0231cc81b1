// The fake upstream calls tools as the real APIs do, streamed and not, and refuses tool turns the
// real APIs refuse, driven through the real SDKs: so a provider that translated tools wrongly
// fails against it. Also its structured output (fake-json) and log probabilities.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { expectedReply, expectedToolArguments, type FakeUpstream, fakeLogprob, startFakeUpstream } from './llm-upstream.ts';

let fake: FakeUpstream;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  fake = await startFakeUpstream();
  openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseURL, maxRetries: 0 });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const parameters = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };

async function status(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status?: number }).status;
  }
}

describe('OpenAI Chat Completions', () => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters } }];

  test('happy: fake-tool-call answers message.tool_calls with content null, not streamed', async () => {
    const completion = await openai.chat.completions.create({ model: 'fake-tool-call', messages: [{ role: 'user', content: 'x' }], tools });
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(completion.choices[0]!.message.content).toBeNull();
    const call = completion.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: 'get_weather', arguments: expectedToolArguments(parameters) });
  });

  test('happy: streamed, the call comes in pieces that the SDK puts together', async () => {
    const final = await openai.chat.completions
      .stream({ model: 'fake-parallel-tool-calls', messages: [{ role: 'user', content: 'x' }], tools })
      .finalChatCompletion();
    const calls = final.choices[0]!.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
    expect(calls.map((call) => call.function.arguments)).toEqual([expectedToolArguments(parameters), expectedToolArguments(parameters)]);
  });

  test('error: a tool call left unanswered, or a tool message answering nothing, is 400', async () => {
    const call = { id: 'c1', type: 'function' as const, function: { name: 'get_weather', arguments: '{}' } };
    const unanswered = openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'user', content: 'x' },
      ],
    });
    expect(await status(unanswered)).toBe(400);
    const stray = openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'tool', tool_call_id: 'c9', content: 'x' }] });
    expect(await status(stray)).toBe(400);
  });

  test('happy: fake-json answers JSON for the schema; logprobs: true gives each token’s', async () => {
    const completion = await openai.chat.completions.create({
      model: 'fake-json',
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema: parameters } },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ city: 'city-value', days: 1 });
    const probable = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'odds' }],
      logprobs: true,
      top_logprobs: 3,
    });
    const content = probable.choices[0]!.logprobs!.content!;
    expect(content.map((entry) => entry.token).join('')).toBe(expectedReply('odds'));
    expect(content[0]).toEqual(fakeLogprob('Fake ', 3));
  });
});

describe('Anthropic Messages', () => {
  const tools = [{ name: 'get_weather', input_schema: parameters as Anthropic.Tool.InputSchema }];

  test('happy: fake-tool-call answers a tool_use block with stop_reason tool_use, not streamed', async () => {
    const message = await anthropic.messages.create({
      model: 'fake-tool-call',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'x' }],
      tools,
    });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      {
        type: 'tool_use',
        id: expect.stringMatching(/^toolu_/),
        name: 'get_weather',
        input: { city: 'city-value', days: 1 },
        caller: { type: 'direct' },
      },
    ]);
  });

  test('happy: streamed, the input comes as input_json_delta pieces the SDK puts together', async () => {
    const final = await anthropic.messages
      .stream({ model: 'any-model', max_tokens: 50, messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'any' } })
      .finalMessage();
    expect(final.content.map((block) => (block.type === 'tool_use' ? block.input : block.type))).toEqual([{ city: 'city-value', days: 1 }]);
  });

  test('error: a tool_use left unanswered, or a tool_result answering nothing, is 400', async () => {
    const unanswered = anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'get_weather', input: {} }] },
        { role: 'user', content: 'y' },
      ],
    });
    expect(await status(unanswered)).toBe(400);
    const stray = anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't9', content: 'x' }] }],
    });
    expect(await status(stray)).toBe(400);
  });
});
