// Images through the reply engine of the real app, on every storage kind: the replies service
// refuses images a model cannot take before anything is created or sent, sends the others to the
// fake upstream, passes over fallbacks without vision, and echo says what it got. No route takes
// images yet (files and the gateway will): these drive the service doors those routes will call.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import type { UserCaller } from '../../src/http/auth.ts';
import { errorHandler } from '../../src/http/error-handler.ts';
import { type ContentPart, ModelCannotTakeImagesError } from '../../src/infra/llm/types.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import type { StatelessChat } from '../../src/modules/models/service.ts';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, readJson, register } from '../helpers/client.ts';
import { bodyOf, llmEnv } from '../helpers/llm.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(() => fake.stop());

const data = Buffer.alloc(2048, 1).toString('base64');
const png: ContentPart = { type: 'image', mediaType: 'image/png', data };
const link: ContentPart = { type: 'image', url: 'https://images.example.com/dog.webp' };
const generations = () => fake.requests.filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/messages');

describe.each(kinds)('images through the replies service (%s)', (_name, kind) => {
  let app: TestApp;
  let caller: UserCaller;
  let token: string;
  beforeAll(async () => {
    app = await createTestApp(
      kind,
      llmEnv(fake, {
        // fake-error-500 stands for a vision model whose upstream fails, so its fallbacks are tried.
        OPENAI_VISION_MODELS: 'gpt-4o*,fake-error-*',
        LLM_FALLBACKS: 'ollama:llama3,anthropic:claude-haiku-4-5',
        LLM_MAX_RETRIES: '0',
      }),
    );
    const account = await register(app);
    token = account.accessToken;
    caller = {
      user: {
        id: account.userId,
        role: 'user',
        tier: 'free',
        email: account.email,
        name: null,
        emailVerified: false,
        createdAt: new Date(),
      },
      isAdmin: false,
      via: 'token',
      sessionId: null,
      tokenId: null,
      tokenExpiresAt: null,
      apiKeyId: null,
      apiKeyExpiresAtMs: null,
    };
  });
  afterEach(() => fake.reset());
  afterAll(() => app.close());

  const ask = (body: StatelessChat) => app.services.models.startStateless(caller, '127.0.0.1', body);
  const reply = async (body: StatelessChat) => app.services.replies.result(await ask(body));
  const refusal = async (body: StatelessChat) => {
    try {
      await ask(body);
    } catch (error) {
      return error as ModelCannotTakeImagesError;
    }
    throw new Error('expected a refusal');
  };

  test('happy: echo replies with the text and a description of each image', async () => {
    const result = await reply({ provider: 'echo', message: [{ type: 'text', text: 'what is this?' }, png, link] });
    expect(result.text).toBe('what is this? [image image/png 2048 bytes] [image https://images.example.com/dog.webp]');
    expect(result.status).toBe('complete');
  });

  test('happy: a vision model gets the image through the whole engine, as an image_url data URL', async () => {
    const result = await reply({ provider: 'openai', model: 'gpt-4o-mini', message: [{ type: 'text', text: 'describe it' }, png] });
    expect(result.text).toBe(expectedReply('describe it'));
    const [sent] = generations();
    expect(bodyOf(sent!).messages?.at(-1)?.content).toEqual([
      { type: 'text', text: 'describe it' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } },
    ]);
  });

  test('happy: a fallback without vision (ollama:llama3) is passed over for one with it (anthropic)', async () => {
    const result = await reply({ provider: 'openai', model: 'fake-error-500', message: [{ type: 'text', text: 'fall back' }, png] });
    expect(result).toMatchObject({ status: 'complete', provider: 'anthropic', model: 'claude-haiku-4-5' });
    expect(generations().map((r) => bodyOf(r).model)).toEqual(['fake-error-500', 'claude-haiku-4-5']);
    expect(bodyOf(generations()[1]!).messages?.at(-1)?.content).toEqual([
      { type: 'text', text: 'fall back' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data } },
    ]);
    expect(app.logs.find((l) => l.msg === 'llm.attempt_skipped' && l.model === 'llama3')).toMatchObject({ reason: 'no_vision' });
  });

  test('error: a model without vision refuses before anything is sent upstream', async () => {
    const error = await refusal({ provider: 'openai', model: 'gpt-3.5-turbo', message: [{ type: 'text', text: 'look' }, png] });
    expect(error).toBeInstanceOf(ModelCannotTakeImagesError);
    expect(error.message).toBe('The model openai/gpt-3.5-turbo cannot take images; choose a vision model');
    expect(error.details).toMatchObject({ reason: 'no_vision', messageIndex: 0, partIndex: 1 });
    expect(generations()).toEqual([]);
  });

  test('error: Ollama is never sent an image by URL (Parley fetches nothing for it)', async () => {
    const error = await refusal({ provider: 'ollama', model: 'llava', message: [link] });
    expect(error.details.reason).toBe('url');
    expect(generations()).toEqual([]);
  });

  test('error: replies.start itself refuses, before a message or a stream is made', async () => {
    const active = app.services.replies.activeCount();
    const started = app.services.replies.start({
      userId: caller.user.id,
      apiKeyId: null,
      chatId: null,
      userMessageId: null,
      provider: 'anthropic',
      model: 'claude-2.1',
      history: [{ role: 'user', content: [png] }],
    });
    await expect(started).rejects.toBeInstanceOf(ModelCannotTakeImagesError);
    expect(app.services.replies.activeCount()).toBe(active);
    expect(generations()).toEqual([]);
  });

  test('happy: supportsImages answers by the configured lists; GET /models marks vision models', async () => {
    expect(app.services.replies.supportsImages('openai', 'gpt-4o-mini')).toBe(true);
    expect(app.services.replies.supportsImages('ollama', 'llama3')).toBe(false);
    const response = await app.request('/api/v1/models', { headers: bearer(token) });
    const { data: models } = (await readJson(response)) as { data: { id: string; provider: string; capabilities: string[] }[] };
    const capabilities = (provider: string, id: string) => models.find((m) => m.provider === provider && m.id === id)?.capabilities;
    expect(capabilities('openai', 'gpt-4o-mini')).toContain('vision');
    expect(capabilities('echo', 'echo')).toContain('vision');
    // The fake Ollama has no vision model installed (llama3.2, qwen2.5).
    const ollama = models.filter((m) => m.provider === 'ollama');
    expect(ollama.length).toBeGreaterThan(0);
    for (const model of ollama) expect(model.capabilities).not.toContain('vision');
  });

  test('happy: text-only stateless chat is unchanged (the body upstream holds plain strings)', async () => {
    const result = await reply({ provider: 'openai', model: 'gpt-3.5-turbo', message: 'just words', history: [] });
    expect(result.text).toBe(expectedReply('just words'));
    expect(bodyOf(generations()[0]!).messages).toEqual([{ role: 'user', content: 'just words' }]);
  });
});

describe('the error handler', () => {
  test('error: an unmapped ModelCannotTakeImagesError answers 422 validation_error with the refusal as message', async () => {
    const message = 'The model ollama/llama3 cannot take images; choose a vision model';
    const app = new Elysia().use(errorHandler(createLogger('silent'))).get('/refuse', () => {
      throw new ModelCannotTakeImagesError(message, {
        provider: 'ollama',
        model: 'llama3',
        reason: 'no_vision',
        messageIndex: 0,
        partIndex: 0,
      });
    });
    const body = await expectError(await app.handle(new Request('http://localhost/refuse')), 422, 'validation_error');
    expect(body.error).toMatchObject({ message, details: [{ field: 'body', message }] });
  });
});
