// The official @anthropic-ai/sdk, pointed at Parley (baseURL: the server; the SDK appends
// /v1/messages) with a Parley API key, as a user would, with the fake upstreams behind Parley:
// create, the raw event stream, the `.stream()` helper, countTokens, tools round the loop,
// images, thinking and x-api-key — routed to echo, and translated to the fake OpenAI and
// Anthropic upstreams' wire formats. Aborts and errors: anthropic-sdk-errors.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import { expectedReasoning, expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { register, uniqueText } from '../helpers/client.ts';
import { llmEnv, upstreamCalls, wordCount } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: 100 });
});
afterAll(() => fake.stop());

const weather: Anthropic.Tool = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

type UpstreamBody = { messages: { role: string; content: unknown }[]; system?: unknown; tools?: unknown[] };

describe.each(kinds)('Anthropic-compatible API through @anthropic-ai/sdk (%s)', (_label, kind) => {
  let server: Listening;
  let client: Anthropic;

  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake, { ECHO_DELAY_MS: '1', LLM_MAX_RETRIES: '2', LLM_RETRY_BASE_MS: '1' }));
    client = new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  test('happy: a message from echo, with a system prompt and history, and its usage', async () => {
    const message = await client.messages.create({
      model: 'echo/echo',
      max_tokens: 64,
      system: [{ type: 'text', text: 'be brief' }],
      messages: [
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: [{ type: 'text', text: 'say these words back' }] },
      ],
    });
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.id).toStartWith('msg_');
    expect(message.model).toBe('echo/echo');
    expect(message.content).toEqual([{ type: 'text', text: 'say these words back' } as Anthropic.TextBlock]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.stop_sequence).toBeNull();
    expect(message.usage.output_tokens).toBe(4);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  test('happy: routed to the Anthropic upstream, the system prompt and turns arrive in its wire format', async () => {
    const text = uniqueText('to anthropic');
    const message = await client.messages.create({
      model: 'anthropic/claude-haiku-4-5',
      max_tokens: 64,
      system: 'be brief',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: text },
      ],
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
    });
    expect((message.content[0] as Anthropic.TextBlock).text).toBe(expectedReply(text));
    const sent = upstreamCalls(fake, text)[0]!;
    expect(sent.path).toBe('/v1/messages');
    const body = sent.body as UpstreamBody & { max_tokens: number; stop_sequences: string[]; metadata: unknown };
    expect(body.system).toBe('be brief');
    expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(body.max_tokens).toBe(64);
    expect(body.stop_sequences).toEqual(['END']);
    expect(body.metadata).toEqual({ user_id: 'u-1' });
  });

  test('happy: routed to the OpenAI upstream, the system prompt is its system message and max_tokens its limit', async () => {
    const text = uniqueText('to openai');
    const message = await client.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 32,
      system: 'be brief',
      messages: [{ role: 'user', content: text }],
      temperature: 0.3,
      top_p: 0.5,
      top_k: 5,
    } as Anthropic.MessageCreateParamsNonStreaming);
    expect((message.content[0] as Anthropic.TextBlock).text).toBe(expectedReply(text));
    const body = upstreamCalls(fake, text)[0]!.body as UpstreamBody & { max_tokens: number; top_p: number; temperature: number };
    expect(body.messages[0]).toEqual({ role: 'system', content: 'be brief' });
    expect(body.max_tokens).toBe(32);
    expect(body.top_p).toBe(0.5);
    expect(body.temperature).toBe(0.3);
  });

  test('happy: the raw stream is Anthropic’s event sequence, each event typed as its name', async () => {
    const response = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': server.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        max_tokens: 64,
        stream: true,
        messages: [{ role: 'user', content: 'stream me' }],
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    const frames = (await response.text())
      .split('\n\n')
      .filter(Boolean)
      .map((frame) => {
        const [eventLine, dataLine] = frame.split('\n');
        return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) };
      });
    for (const frame of frames) expect(frame.data.type).toBe(frame.event);
    const names = frames.map((frame) => frame.event);
    expect(names.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(new Set(names.slice(3, -3))).toEqual(new Set(['content_block_delta']));
    const text = frames.flatMap((frame) => (frame.event === 'content_block_delta' ? [frame.data.delta.text] : [])).join('');
    expect(text).toBe(expectedReply('stream me'));
    const delta = frames.at(-2)!.data;
    expect(delta.delta).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect(delta.usage.output_tokens).toBe(wordCount(expectedReply('stream me')));
  });

  test('happy: the .stream() helper gives the text as it comes and the final message', async () => {
    const stream = client.messages.stream({
      model: 'anthropic/claude-haiku-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'helper' }],
    });
    let deltas = '';
    stream.on('text', (delta) => {
      deltas += delta;
    });
    const final = await stream.finalMessage();
    expect(final.content as unknown[]).toEqual([{ type: 'text', text: expectedReply('helper') }]);
    expect(deltas).toBe(expectedReply('helper'));
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(wordCount(expectedReply('helper')));
    expect(await stream.finalText()).toBe(expectedReply('helper'));
  });

  test('happy: a stop sequence that ended an Anthropic reply is stop_reason stop_sequence, naming it, streamed or not', async () => {
    const params = {
      model: 'anthropic/claude-haiku-4-5',
      max_tokens: 64,
      stop_sequences: ['NEVER', 'HALT'],
      messages: [{ role: 'user' as const, content: 'go on HALT and stop' }],
    };
    const whole = await client.messages.create(params);
    expect(whole.content).toEqual([{ type: 'text', text: 'Fake reply to: go on ' } as Anthropic.TextBlock]);
    expect([whole.stop_reason, whole.stop_sequence]).toEqual(['stop_sequence', 'HALT']);
    const streamed = await client.messages.stream(params).finalMessage();
    expect([streamed.stop_reason, streamed.stop_sequence]).toEqual(['stop_sequence', 'HALT']);
    const unmatched = await client.messages.create({ ...params, messages: [{ role: 'user', content: 'no sequence here' }] });
    expect([unmatched.stop_reason, unmatched.stop_sequence]).toEqual(['end_turn', null]);
  });

  test('happy: countTokens estimates the input without calling a model', async () => {
    const small = await client.messages.countTokens({ model: 'echo/echo', messages: [{ role: 'user', content: 'hi' }] });
    const large = await client.messages.countTokens({
      model: 'anthropic/claude-haiku-4-5',
      system: 'a system prompt of some length',
      messages: [{ role: 'user', content: 'a much longer question than the other one, '.repeat(10) }],
      tools: [weather],
    });
    expect(small.input_tokens).toBe(1);
    expect(large.input_tokens).toBeGreaterThan(100);
    expect(fake.requests.filter((request) => request.path === '/v1/messages')).toEqual([]);
  });

  for (const provider of ['anthropic', 'openai']) {
    test(`happy: a tool_use, then its tool_result sent back, then the answer (${provider} upstream)`, async () => {
      const question: Anthropic.MessageParam = { role: 'user', content: 'weather in Paris?' };
      const first = await client.messages.create({
        model: `${provider}/fake-tool-call`,
        max_tokens: 64,
        messages: [question],
        tools: [weather],
      });
      expect(first.stop_reason).toBe('tool_use');
      const use = first.content.find((block) => block.type === 'tool_use') as Anthropic.ToolUseBlock;
      expect(use).toMatchObject({ name: 'get_weather', input: { city: 'city-value' } });
      const second = await client.messages.create({
        model: `${provider}/fake-tool-call`,
        max_tokens: 64,
        tools: [weather],
        messages: [
          question,
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'sunny' }] }] },
        ],
      });
      expect(second.content).toEqual([{ type: 'text', text: expectedReply('tool result: sunny') } as Anthropic.TextBlock]);
      const sent = fake.requests.at(-1)!.body as UpstreamBody;
      if (provider === 'anthropic') {
        expect(sent.messages.at(-1)!.content).toEqual([{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }]);
      } else {
        expect(sent.messages.at(-1) as unknown).toEqual({ role: 'tool', tool_call_id: use.id, content: 'sunny' });
      }
    });
  }

  test('happy: streamed tool calls (two, in parallel) put together by the .stream() helper; tool_choice any reaches upstream', async () => {
    const time: Anthropic.Tool = { name: 'get_time', input_schema: { type: 'object', properties: {} } };
    const stream = client.messages.stream({
      model: 'anthropic/fake-parallel-tool-calls',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'both' }],
      tools: [weather, time],
      tool_choice: { type: 'any' },
    });
    const final = await stream.finalMessage();
    const uses = final.content.filter((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');
    expect(uses.map((use) => [use.name, use.input])).toEqual([
      ['get_weather', { city: 'city-value' }],
      ['get_time', {}],
    ]);
    expect(final.stop_reason).toBe('tool_use');
    expect((fake.requests.at(-1)!.body as { tool_choice: unknown }).tool_choice).toEqual({ type: 'any' });
  });

  test('happy: an image (base64 and url) reaches each upstream in its own format', async () => {
    const text = uniqueText('look');
    const image: Anthropic.ImageBlockParam = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } };
    const linked: Anthropic.ImageBlockParam = { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } };
    await client.messages.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 16,
      messages: [{ role: 'user', content: [{ type: 'text', text }, image] }],
    });
    const toOpenAi = upstreamCalls(fake, text)[0]!.body as { messages: { content: unknown[] }[] };
    expect(toOpenAi.messages[0]!.content[1]).toEqual({ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } });
    fake.reset();
    await client.messages.create({
      model: 'anthropic/claude-haiku-4-5',
      max_tokens: 16,
      messages: [{ role: 'user', content: [{ type: 'text', text }, image, linked] }],
    });
    const toAnthropic = upstreamCalls(fake, text)[0]!.body as { messages: { content: unknown[] }[] };
    expect(toAnthropic.messages[0]!.content.slice(1)).toEqual([image, linked]);
    const echoed = await client.messages.create({
      model: 'echo/echo',
      max_tokens: 16,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, image] }],
    });
    expect((echoed.content[0] as Anthropic.TextBlock).text).toBe('see [image image/png 8 bytes]');
  });

  test('happy: with thinking asked for, the model’s thinking comes back as a thinking block; without, it does not', async () => {
    const asked = await client.messages.create({
      model: 'anthropic/fake-reasoning',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'think' }],
    });
    expect(asked.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    expect((asked.content[0] as Anthropic.ThinkingBlock).thinking).toBe(expectedReasoning('think'));
    const streamed = await client.messages
      .stream({
        model: 'openai/fake-reasoning',
        max_tokens: 2048,
        thinking: { type: 'adaptive' },
        messages: [{ role: 'user', content: 'think' }],
      })
      .finalMessage();
    expect(streamed.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    const plain = await client.messages.create({
      model: 'anthropic/fake-reasoning',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'think' }],
    });
    expect(plain.content.map((block) => block.type)).toEqual(['text']);
  });

  test('happy: an API key in x-api-key is taken as the SDK’s Bearer is; an access token there is not', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'key' }] }),
      });
    expect((await post({ 'x-api-key': server.key })).status).toBe(200);
    expect((await post({ authorization: `Bearer ${server.key}` })).status).toBe(200);
    const account = await register(server.app);
    const refused = await post({ 'x-api-key': account.accessToken });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } });
  });
});
