// The official @anthropic-ai/sdk against Parley's /v1/messages, as anthropic-sdk.test.ts, for what
// leaving and failing look like to it: an abandoned request cancels the reply upstream, and each
// failure is the error class the SDK types (authentication, not found, bad request, permission,
// overloaded), a stream's early failure its HTTP status and a late one an in-band error event.
import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { kinds } from '../helpers/app.ts';
import { createApiKey, register, uniqueText, waitUntil } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { type Listening, listeningApp } from '../helpers/openai.ts';

setDefaultTimeout(60_000);

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowChunkMs: 100 });
});
afterAll(() => fake.stop());

/** An SDK call's failure (the SDK's promises are lazy: expect().rejects does not drive them). */
const failure = (work: () => Promise<unknown>) =>
  work().then(
    () => undefined,
    (error: InstanceType<typeof Anthropic.APIError>) => error,
  );

describe.each(kinds)('Anthropic-compatible API through @anthropic-ai/sdk: leaving and failing (%s)', (_label, kind) => {
  let server: Listening;
  let client: Anthropic;

  beforeAll(async () => {
    server = await listeningApp(kind, llmEnv(fake, { ECHO_DELAY_MS: '1', LLM_MAX_RETRIES: '2', LLM_RETRY_BASE_MS: '1' }));
    client = new Anthropic({ apiKey: server.key, baseURL: server.url, maxRetries: 0 });
  });
  afterAll(() => server?.close());
  beforeEach(() => fake.reset());

  test('happy: aborting a stream cancels the upstream request', async () => {
    const stream = await client.messages.create({
      model: 'openai/fake-slow',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'long' }],
      stream: true,
    });
    let events = 0;
    for await (const _event of stream) if (++events === 5) break; // leaving the loop aborts the request
    const upstream = () => fake.requests.find((r) => (r.body as { model?: string })?.model === 'fake-slow');
    await waitUntil(() => upstream()?.aborted === true, 'the upstream request aborted', 3000);
    expect(upstream()!.completed).toBe(false);
  });

  test('happy: aborting a message that is not streamed cancels the upstream request too', async () => {
    const controller = new AbortController();
    const text = uniqueText('abandoned');
    const pending = client.messages
      .create({ model: 'anthropic/fake-slow', max_tokens: 256, messages: [{ role: 'user', content: text }] }, { signal: controller.signal })
      .catch((error: unknown) => error);
    await waitUntil(() => upstreamCalls(fake, text).length === 1, 'the upstream request started', 3000);
    controller.abort();
    expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
    await waitUntil(() => upstreamCalls(fake, text)[0]?.aborted === true, 'the upstream request aborted', 3000);
  });

  test('error: a bad key is AuthenticationError; an unknown model NotFoundError not_found_error', async () => {
    const stranger = new Anthropic({ apiKey: 'pk_not-a-real-key', baseURL: server.url, maxRetries: 0 });
    const bad = await failure(() =>
      stranger.messages.create({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(bad).toBeInstanceOf(Anthropic.AuthenticationError);
    const unknown = await failure(() =>
      client.messages.create({ model: 'echo/other', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect(unknown!.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const uncounted = await failure(() => client.messages.countTokens({ model: 'echo/other', messages: [{ role: 'user', content: 'x' }] }));
    expect(uncounted).toBeInstanceOf(Anthropic.NotFoundError);
  });

  test('error: what Parley cannot honour, and schema violations, are BadRequestError invalid_request_error naming the field', async () => {
    const document = await failure(() =>
      client.messages.create({
        model: 'echo/echo',
        max_tokens: 8,
        messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'x' } }] }],
      }),
    );
    expect(document).toBeInstanceOf(Anthropic.BadRequestError);
    expect(document!.error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringContaining('messages.0.content.0') },
    });
    const choice = await failure(() =>
      client.messages.create({
        model: 'echo/echo',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'x' }],
        tool_choice: { type: 'tool', name: 'nothing' },
      }),
    );
    expect(choice).toBeInstanceOf(Anthropic.BadRequestError);
    const noLimit = await failure(() =>
      client.messages.create({
        model: 'echo/echo',
        messages: [{ role: 'user', content: 'x' }],
      } as unknown as Anthropic.MessageCreateParamsNonStreaming),
    );
    expect(noLimit).toBeInstanceOf(Anthropic.BadRequestError);
    expect((noLimit!.error as { error: { message: string } }).error.message).toContain('max_tokens');
  });

  test('error: an API key limited to other models is PermissionDeniedError', async () => {
    const account = await register(server.app);
    const { key } = await createApiKey(server.app, account.accessToken, { name: 'echo only', allowedModels: ['echo/*'] });
    const limited = new Anthropic({ apiKey: key, baseURL: server.url, maxRetries: 0 });
    const ok = await limited.messages.create({ model: 'echo/echo', max_tokens: 8, messages: [{ role: 'user', content: 'fine' }] });
    expect((ok.content[0] as Anthropic.TextBlock).text).toBe('fine');
    const refused = await failure(() =>
      limited.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(refused).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(fake.requests.filter((request) => request.path === '/v1/chat/completions')).toEqual([]);
  });

  test('error: upstream’s 529 overloaded after Parley’s retries is 529 overloaded_error', async () => {
    fake.failNext(3, 529);
    const error = await failure(() =>
      client.messages.create({ model: 'anthropic/claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    );
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(error!.status).toBe(529);
    expect(error!.error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
  });

  test('error: a stream that fails before its first token throws with the HTTP status; after it, with an in-band error event', async () => {
    const early = await failure(async () => {
      const stream = await client.messages.create({
        model: 'openai/fake-error-401',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      for await (const _event of stream);
    });
    expect(early).toBeInstanceOf(Anthropic.APIError);
    expect(early!.status).toBe(502);
    const seen: string[] = [];
    const late = await failure(async () => {
      const stream = await client.messages.create({
        model: 'anthropic/fake-mid-stream-error',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      for await (const event of stream) seen.push(event.type);
    });
    expect(late).toBeInstanceOf(Anthropic.APIError);
    expect(seen[0]).toBe('message_start');
    expect(seen).toContain('content_block_delta');
  });
});
