// Images through the real SDK clients to the fake upstream, which checks them as the real APIs
// do (tests/fakes: openai-wire, anthropic-wire) and records what it received.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { parseConfig } from '../../src/config/index.ts';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createEchoProvider } from '../../src/infra/llm/echo.ts';
import { createProviders, ModelCannotTakeImagesError, streamWithResilience } from '../../src/infra/llm/index.ts';
import { createOllamaProvider } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import type { ChatMessage, ContentPart, GenerationRequest, LlmProvider } from '../../src/infra/llm/types.ts';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { bodyOf, collect, generationRequests, memoryLog, request } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const data = Buffer.alloc(1234, 42).toString('base64');
const pngPart: ContentPart = { type: 'image', mediaType: 'image/png', data };
const urlPart: ContentPart = { type: 'image', url: 'https://images.example.com/cat.jpg' };
const withImage = (image: ContentPart, text = 'what is in this picture'): GenerationRequest => ({
  ...request('m', text),
  messages: [
    { role: 'user', content: 'hello' },
    { role: 'assistant', content: 'hi' },
    { role: 'user', content: [{ type: 'text', text }, image] },
  ],
});

const openai = () => createOpenAiProvider({ apiKey: 'k', baseUrl: fake.openaiBaseURL });
const anthropic = () => createAnthropicProvider({ apiKey: 'k', baseUrl: fake.anthropicBaseURL });
const ollama = () => createOllamaProvider({ baseUrl: fake.ollamaBaseURL });

async function sendOne(provider: LlmProvider, model: string, req: GenerationRequest) {
  const out = await collect(provider.stream({ ...req, model }));
  const [sent, ...more] = generationRequests(fake.requests);
  expect(more).toEqual([]);
  return { out, body: bodyOf(sent) as { messages: { role: string; content: unknown }[] } & Record<string, unknown> };
}

/** The second content part of the last turn sent (the image, after the text). */
const secondPart = (body: { messages: { content: unknown }[] }) => (body.messages.at(-1)?.content as unknown[] | undefined)?.[1];

describe('images reach each upstream as its API takes them', () => {
  test('happy: openai gets an image_url part holding a data URL, after the text part', async () => {
    const { out, body } = await sendOne(openai(), 'gpt-4o-mini', withImage(pngPart));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('what is in this picture'));
    expect(body.messages.at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'what is in this picture' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } },
      ],
    });
    // The earlier, text-only turns are sent as plain strings, as before.
    expect(body.messages.slice(0, 2)).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi' },
    ]);
  });

  test('happy: openai gets an image given by URL as that URL', async () => {
    const { out, body } = await sendOne(openai(), 'gpt-4o-mini', withImage(urlPart));
    expect(out.error).toBeUndefined();
    expect(secondPart(body)).toEqual({ type: 'image_url', image_url: { url: urlPart.url } });
  });

  test('happy: anthropic gets an image block with a base64 source', async () => {
    const { out, body } = await sendOne(anthropic(), 'claude-haiku-4-5', withImage(pngPart));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('what is in this picture'));
    expect(body.messages.at(-1)).toEqual({
      role: 'user',
      content: [
        { type: 'text', text: 'what is in this picture' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data } },
      ],
    });
  });

  test('happy: anthropic gets an image given by URL as a url source', async () => {
    const { out, body } = await sendOne(anthropic(), 'claude-haiku-4-5', withImage(urlPart));
    expect(out.error).toBeUndefined();
    expect(secondPart(body)).toEqual({ type: 'image', source: { type: 'url', url: urlPart.url } });
  });

  test('happy: ollama gets the image on its /v1 as a base64 data URL (which Ollama turns into the message `images`)', async () => {
    const { out, body } = await sendOne(ollama(), 'llava', withImage(pngPart));
    expect(out.error).toBeUndefined();
    expect(generationRequests(fake.requests)[0]?.path).toBe('/v1/chat/completions');
    const parts = body.messages.at(-1)?.content as { type: string; image_url?: { url: string } }[];
    expect(parts[1]).toEqual({ type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } });
    // What Ollama's /v1 accepts: `data:image/(png|jpeg|jpg|webp);base64,` then base64 it decodes into `images`.
    const [, base64] = /^data:image\/(?:png|jpeg|webp);base64,(.+)$/.exec(parts[1]?.image_url?.url ?? '') ?? [];
    expect(Buffer.from(base64 ?? '', 'base64')).toEqual(Buffer.alloc(1234, 42));
  });

  test('happy: echo describes each image in place, deterministically', async () => {
    const echo = createEchoProvider({ delayMs: 0 });
    const out = await collect(
      echo.stream({
        ...request('echo', 'x'),
        messages: [{ role: 'user', content: [{ type: 'text', text: 'compare' }, pngPart, { type: 'text', text: 'with' }, urlPart] }],
      }),
    );
    expect(out.text).toBe('compare [image image/png 1234 bytes] with [image https://images.example.com/cat.jpg]');
  });

  test('error: the fake refuses a malformed image as the real APIs do (so a bad translation cannot pass unseen)', async () => {
    const bad: ContentPart = { type: 'image', mediaType: 'image/png', data: 'not base64!' };
    for (const [provider, model] of [
      [openai(), 'gpt-4o-mini'],
      [anthropic(), 'claude-haiku-4-5'],
    ] as const) {
      const out = await collect(provider.stream({ ...withImage(bad), model }));
      expect((out.error as { options?: { status?: number } }).options?.status).toBe(400);
    }
  });
});

describe('text-only requests are unchanged', () => {
  const turns: ChatMessage[] = [
    { role: 'user', content: 'first question' },
    { role: 'assistant', content: 'first answer' },
    { role: 'user', content: 'and now?' },
  ];
  const req = { ...request('m', 'and now?'), messages: turns, system: 'Be brief.', maxTokens: 50, temperature: 0.5 };

  test('happy: openai and ollama receive exactly the body they always did', async () => {
    for (const [provider, model] of [
      [openai(), 'gpt-4o-mini'],
      [ollama(), 'llama3.2'],
    ] as const) {
      fake.reset();
      const { body } = await sendOne(provider, model, req);
      expect(body).toEqual({
        model,
        messages: [{ role: 'system', content: 'Be brief.' }, ...turns],
        max_tokens: 50,
        temperature: 0.5,
        stream: true,
        stream_options: { include_usage: true },
      });
    }
  });

  test('happy: anthropic receives exactly the body it always did', async () => {
    const { body } = await sendOne(anthropic(), 'claude-haiku-4-5', req);
    expect(body).toEqual({ model: 'claude-haiku-4-5', max_tokens: 50, system: 'Be brief.', messages: turns, stream: true });
  });

  test('happy: text given as parts goes as text parts', async () => {
    const parts: GenerationRequest = { ...request('m', 'x'), messages: [{ role: 'user', content: [{ type: 'text', text: 'in parts' }] }] };
    const { out, body } = await sendOne(openai(), 'gpt-4o-mini', parts);
    expect(out.text).toBe(expectedReply('in parts'));
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'in parts' }] }]);
  });
});

describe('models that cannot take the images are never sent them', () => {
  const env = {
    JWT_SECRET: 'x'.repeat(40),
    OPENAI_API_KEY: 'k',
    ANTHROPIC_API_KEY: 'k',
    OLLAMA_BASE_URL: 'http://127.0.0.1:1',
  };
  const setup = () => {
    const config = parseConfig({ ...env, OPENAI_BASE_URL: fake.openaiBaseURL, ANTHROPIC_BASE_URL: fake.anthropicBaseURL });
    const { log, lines } = memoryLog();
    return { providers: createProviders(config, log), log, lines };
  };
  const resilient = (
    { providers, log }: ReturnType<typeof setup>,
    attempts: { provider: 'openai' | 'anthropic' | 'ollama' | 'echo'; model: string }[],
    image: ContentPart,
  ) => {
    const { model: _model, signal: _signal, ...rest } = withImage(image);
    return streamWithResilience({
      providers: providers.providers,
      attempts,
      request: rest,
      signal: new AbortController().signal,
      firstTokenTimeoutMs: 5000,
      idleTimeoutMs: 5000,
      totalTimeoutMs: 10_000,
      maxRetries: 0,
      retryBaseMs: 1,
      imageRefusal: providers.imageRefusal,
      log,
    });
  };

  test('happy: supportsImages and the vision capability follow the configured lists', async () => {
    const { providers } = setup();
    expect(providers.supportsImages('openai', 'gpt-4o-mini')).toBe(true);
    expect(providers.supportsImages('openai', 'gpt-3.5-turbo')).toBe(false);
    const listed = await providers.listAllModels();
    const capabilities = (id: string) => listed.find((m) => m.id === id)?.capabilities;
    expect(capabilities('gpt-4o-mini')).toEqual(['chat', 'stream', 'vision']);
    expect(capabilities('claude-haiku-4-5')).toEqual(['chat', 'stream', 'vision']);
    expect(capabilities('echo')).toEqual(['chat', 'stream', 'vision']);
  });

  test('error: checkImages throws ModelCannotTakeImagesError for a model without vision, and for a URL to Ollama', () => {
    const { providers } = setup();
    const messages = withImage(pngPart).messages;
    expect(() => providers.checkImages('openai', 'gpt-3.5-turbo', messages)).toThrow(ModelCannotTakeImagesError);
    expect(() => providers.checkImages('openai', 'gpt-4o', messages)).not.toThrow();
    expect(() => providers.checkImages('ollama', 'llava', withImage(urlPart).messages)).toThrow(
      "ollama takes images as data only, not by URL: send the image's bytes (messages.2.content.1)",
    );
    expect(() => providers.checkImages('openai', 'gpt-3.5-turbo', [{ role: 'user', content: 'text only' }])).not.toThrow();
  });

  test('happy: a fallback that cannot take images is passed over for one that can, and never sent anything', async () => {
    const ctx = setup();
    const out = await collect(
      resilient(
        ctx,
        [
          { provider: 'openai', model: 'gpt-3.5-turbo' },
          { provider: 'anthropic', model: 'claude-haiku-4-5' },
        ],
        pngPart,
      ),
    );
    expect(out.error).toBeUndefined();
    expect(out.attempts).toEqual(['anthropic:claude-haiku-4-5']);
    expect(generationRequests(fake.requests).map((r) => bodyOf(r).model)).toEqual(['claude-haiku-4-5']);
    expect(ctx.lines.find((l) => l.msg === 'llm.attempt_skipped')).toMatchObject({ model: 'gpt-3.5-turbo', reason: 'no_vision' });
  });

  test('error: when no attempt can take the images, the refusal is thrown and nothing reaches upstream', async () => {
    const out = await collect(
      resilient(
        setup(),
        [
          { provider: 'openai', model: 'gpt-3.5-turbo' },
          { provider: 'ollama', model: 'llava' },
        ],
        urlPart,
      ),
    );
    expect(out.error).toBeInstanceOf(ModelCannotTakeImagesError);
    expect((out.error as ModelCannotTakeImagesError).details.reason).toBe('no_vision');
    expect(out.attempts).toEqual([]);
    expect(generationRequests(fake.requests)).toEqual([]);
  });
});
