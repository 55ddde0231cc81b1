// The official openai SDK, pointed at Parley's /v1 with a Parley API key, as a user would.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { createApiKey, register, testEnv } from '../helpers/client.ts';

describe('OpenAI-compatible API through the openai SDK', () => {
  let app: TestApp;
  let server: { stop: (force?: boolean) => unknown; port: number };
  let client: OpenAI;

  beforeAll(async () => {
    app = await createTestApp({ database: 'sqlite', kv: 'memory' }, { ...testEnv, ECHO_DELAY_MS: '1' });
    const listening = app.app.listen({ port: 0, hostname: '127.0.0.1' });
    server = listening.server as unknown as typeof server;
    const account = await register(app);
    const key = await createApiKey(app, account.accessToken, { name: 'sdk' });
    client = new OpenAI({ apiKey: key.key, baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.stop(true);
    await app?.close();
  });

  test('happy: models list, with provider/model ids', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toContain('echo/echo');
  });

  test('happy: a completion, not streamed', async () => {
    const completion = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'say these words back' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]!.message.content).toBe('say these words back');
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.model).toBe('echo/echo');
    expect(completion.usage!.completion_tokens).toBe(4);
  });

  test('happy: a streamed completion with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'stream me please' }] }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe('stream me please');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(3);
  });

  test('happy: standard request fields (case #7): top_p, and the rest of what the SDK sends', async () => {
    const completion = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [{ role: 'user', content: 'hi' }],
      top_p: 0.9,
    });
    expect(completion.choices[0]!.message.content).toBe('hi');

    const everything = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [{ role: 'user', content: 'hi' }],
      top_p: 1,
      user: 'u-1',
      stop: ['\n'],
      n: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      seed: 7,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      logprobs: false,
      top_logprobs: 0,
      logit_bias: { '50256': -100 },
      metadata: { run: '1' },
      store: false,
      service_tier: 'auto',
      parallel_tool_calls: false,
      reasoning_effort: 'low',
      modalities: ['text'],
      prediction: { type: 'content', content: 'hi' },
    });
    expect(everything.choices[0]!.message.content).toBe('hi');
  });

  test('happy: explicit nulls (case #6) mean the default', async () => {
    const completion = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: null,
      max_completion_tokens: null,
      temperature: null,
      top_p: null,
      stream: null,
      stream_options: null,
      stop: null,
      seed: null,
      n: null,
      presence_penalty: null,
      frequency_penalty: null,
    });
    expect(completion.choices[0]!.message.content).toBe('hi');
  });

  test('happy: a streamed completion with include_obfuscation and a stop string', async () => {
    const stream = await client.chat.completions.create({
      model: 'echo/echo',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: false },
      stop: 'END',
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('hi');
  });

  test('error: what Parley cannot honour is a 422 naming the field: n 2, top_p out of range, logprobs', async () => {
    const refused = (body: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>) =>
      client.chat.completions.create({ model: 'echo/echo', messages: [{ role: 'user', content: 'hi' }], ...body }).then(
        () => undefined,
        (error: { status?: number; error?: { details?: { field: string }[] } }) => ({
          status: error.status,
          fields: error.error?.details?.map((detail) => detail.field),
        }),
      );
    expect(await refused({ n: 2 })).toEqual({ status: 422, fields: ['body.n'] });
    expect(await refused({ top_p: 1.1 })).toEqual({ status: 422, fields: ['body.top_p'] });
    expect(await refused({ logprobs: true })).toEqual({ status: 422, fields: ['body.logprobs'] });
  });

  test('error: a bad key is 401, an unknown provider model 422, a conversation not ending with the user 422', async () => {
    const stranger = new OpenAI({ apiKey: 'pk_not-a-real-key', baseURL: client.baseURL, maxRetries: 0 });
    // Awaited by hand: the SDK's promises are lazy, and expect().rejects does not drive them.
    const failure = (work: () => Promise<unknown>) =>
      work().then(
        () => undefined,
        (error: { status?: number }) => error.status,
      );
    expect(await failure(() => stranger.models.list())).toBe(401);
    expect(await failure(() => client.chat.completions.create({ model: 'echo/other', messages: [{ role: 'user', content: 'x' }] }))).toBe(
      422,
    );
    expect(await failure(() => client.chat.completions.create({ model: 'echo', messages: [{ role: 'assistant', content: 'x' }] }))).toBe(
      422,
    );
  });
});
