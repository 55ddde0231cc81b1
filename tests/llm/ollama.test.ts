// Ollama's native API: model listing and the admin helpers (status, start, stop).
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createOllamaProvider, ollamaModelName, ollamaModelStatus, startOllamaModel, stopOllamaModel } from '../../src/infra/llm/ollama.ts';
import { UnknownModelError, UpstreamError } from '../../src/infra/llm/types.ts';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { bodyOf, closedPortUrl, collect, request } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ ollamaLoaded: ['qwen2.5:0.5b'] });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('ollama provider', () => {
  test('happy: chats through /v1/chat/completions with the placeholder key', async () => {
    const provider = createOllamaProvider({ baseUrl: `${fake.ollamaBaseURL}/` });
    const out = await collect(provider.stream(request('qwen2.5:0.5b', 'hola')));
    expect(out.text).toBe(expectedReply('hola'));
    const rec = fake.requests[0]!;
    expect(rec.path).toBe('/v1/chat/completions');
    expect(rec.headers.authorization).toBe('Bearer ollama');
    expect(bodyOf(rec).model).toBe('qwen2.5:0.5b');
  });

  test('happy: lists models from /api/tags', async () => {
    const provider = createOllamaProvider({ baseUrl: fake.ollamaBaseURL });
    expect((await provider.listModels()).map((m) => m.id)).toEqual(['llama3.2:latest', 'qwen2.5:0.5b']);
    expect(fake.requests.map((r) => r.path)).toEqual(['/api/tags']);
  });

  test('error: listing fails as UpstreamError when /api/tags cannot answer (no fallback here: see createProviders)', async () => {
    const down = await rejection(createOllamaProvider({ baseUrl: await closedPortUrl() }).listModels());
    expect(down).toBeInstanceOf(UpstreamError);
    expect((down as UpstreamError).options.retryable).toBe(true);

    const broken = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json({ error: 'boom' }, { status: 500 }) });
    try {
      const failed = await rejection(createOllamaProvider({ baseUrl: `http://127.0.0.1:${broken.port}` }).listModels());
      expect(failed).toBeInstanceOf(UpstreamError);
      expect((failed as UpstreamError).options.status).toBe(500);
    } finally {
      await broken.stop(true);
    }
  });

  test('happy: names default to the :latest tag', () => {
    expect(ollamaModelName('llama3.2')).toBe('llama3.2:latest');
    expect(ollamaModelName('qwen2.5:0.5b')).toBe('qwen2.5:0.5b');
  });
});

describe('ollama admin helpers', () => {
  test('happy: status reports installed and loaded', async () => {
    expect(await ollamaModelStatus(fake.ollamaBaseURL, 'qwen2.5:0.5b')).toEqual({ model: 'qwen2.5:0.5b', installed: true, loaded: true });
    expect(await ollamaModelStatus(fake.ollamaBaseURL, 'llama3.2')).toEqual({ model: 'llama3.2', installed: true, loaded: false });
    expect(fake.requests.map((r) => r.path).sort()).toEqual(['/api/ps', '/api/ps', '/api/tags', '/api/tags']);
  });

  test('happy: start pins the model in memory, stop unloads it', async () => {
    await startOllamaModel(fake.ollamaBaseURL, 'llama3.2');
    const start = fake.requests.find((r) => r.path === '/api/generate');
    expect(start?.method).toBe('POST');
    expect(bodyOf(start)).toEqual({ model: 'llama3.2', keep_alive: -1 });
    expect((await ollamaModelStatus(fake.ollamaBaseURL, 'llama3.2')).loaded).toBe(true);

    await stopOllamaModel(fake.ollamaBaseURL, 'llama3.2');
    expect(bodyOf(fake.requests.filter((r) => r.path === '/api/generate')[1])).toEqual({ model: 'llama3.2', keep_alive: 0 });
    expect((await ollamaModelStatus(fake.ollamaBaseURL, 'llama3.2')).loaded).toBe(false);
  });

  test('error: unknown models are UnknownModelError', async () => {
    expect(await rejection(ollamaModelStatus(fake.ollamaBaseURL, 'nope'))).toBeInstanceOf(UnknownModelError);
    expect(await rejection(startOllamaModel(fake.ollamaBaseURL, 'nope'))).toBeInstanceOf(UnknownModelError);
    expect(await rejection(stopOllamaModel(fake.ollamaBaseURL, 'nope'))).toBeInstanceOf(UnknownModelError);
  });

  test('error: other failures are UpstreamError', async () => {
    fake.failNext(1, 500);
    const failed = await rejection(startOllamaModel(fake.ollamaBaseURL, 'llama3.2'));
    expect(failed).toBeInstanceOf(UpstreamError);
    expect((failed as UpstreamError).options).toMatchObject({ status: 500, retryable: true });

    const down = await closedPortUrl();
    for (const call of [ollamaModelStatus(down, 'x'), startOllamaModel(down, 'x'), stopOllamaModel(down, 'x')]) {
      const e = await rejection(call);
      expect(e).toBeInstanceOf(UpstreamError);
      expect((e as UpstreamError).options.retryable).toBe(true);
    }
  });

  test('error: a hung server times out as UpstreamError', async () => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 0, fetch: () => new Promise<Response>(() => {}) });
    try {
      const t0 = performance.now();
      const e = await rejection(ollamaModelStatus(`http://127.0.0.1:${server.port}`, 'x', { timeoutMs: 100 }));
      expect(e).toBeInstanceOf(UpstreamError);
      expect(performance.now() - t0).toBeLessThan(500);
    } finally {
      await server.stop(true);
    }
  });
});
