// Ollama native API, the apiKey option and server lifecycle of the fake upstream.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { expectedReply, type FakeUpstream, startFakeUpstream } from './llm-upstream.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const user = (content: string) => [{ role: 'user' as const, content }];

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('Ollama', () => {
  const post = (path: string, body: unknown) => fetch(`${fake.ollamaBaseURL}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const psNames = async () =>
    ((await (await fetch(`${fake.ollamaBaseURL}/api/ps`)).json()) as { models: { name: string }[] }).models.map((m) => m.name);

  test('happy: /api/tags lists installed models', async () => {
    const body = (await (await fetch(`${fake.ollamaBaseURL}/api/tags`)).json()) as {
      models: { name: string; model: string; digest: string; details: { format: string } }[];
    };
    expect(body.models.map((m) => m.name)).toEqual(['llama3.2:latest', 'qwen2.5:0.5b']);
    expect(body.models[0]).toMatchObject({ model: 'llama3.2:latest', details: { format: 'gguf' } });
    expect(body.models[0]?.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  test('happy: load and unload through /api/generate update /api/ps', async () => {
    expect(await psNames()).toEqual([]);
    const load = await post('/api/generate', { model: 'llama3.2', keep_alive: '10m' });
    expect(await load.json()).toMatchObject({ model: 'llama3.2', response: '', done: true, done_reason: 'load' });
    expect(await psNames()).toEqual(['llama3.2:latest']);

    const unload = await post('/api/generate', { model: 'llama3.2:latest', keep_alive: 0 });
    expect(await unload.json()).toMatchObject({ done: true, done_reason: 'unload' });
    expect(await psNames()).toEqual([]);

    const unknown = await post('/api/generate', { model: 'nope', keep_alive: '5m' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain('not found');
  });

  test('happy: reset() restores the initially loaded models', async () => {
    await post('/api/generate', { model: 'qwen2.5:0.5b' });
    expect(await psNames()).toEqual(['qwen2.5:0.5b']);
    fake.reset();
    expect(fake.requests).toEqual([]);
    expect(await psNames()).toEqual([]);
  });

  test('happy: /api/show answers details or 404', async () => {
    const ok = await post('/api/show', { model: 'qwen2.5:0.5b' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ details: { format: 'gguf', parameter_size: '494.03M' } });
    const missing = await post('/api/show', { model: 'missing' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "model 'missing' not found" });
  });

  test('happy: OpenAI-compatible chat at /v1 via the OpenAI SDK', async () => {
    const client = new OpenAI({ apiKey: 'ollama', baseURL: `${fake.ollamaBaseURL}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'llama3.2', messages: user('hola') });
    expect(res.choices[0]?.message.content).toBe(expectedReply('hola'));
  });
});

describe('lifecycle', () => {
  test('happy: stop() ends in-flight slow streams and clears timers', async () => {
    const own = await startFakeUpstream({ slowChunkMs: 1000 });
    const res = await fetch(`${own.openaiBaseURL}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'fake-slow', messages: user('x'), stream: true }),
    });
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toStartWith('data: {');
    expect(own.activeTimers).toBe(1);
    const t0 = performance.now();
    await own.stop();
    expect(performance.now() - t0).toBeLessThan(500);
    expect(own.activeTimers).toBe(0);
    // The connection is gone: the body ends or errors instead of hanging.
    const rest = await reader.read().catch(() => ({ done: true }));
    expect(rest.done).toBe(true);
  });
});

describe('apiKey option', () => {
  const params = (model: string) => ({ model, max_tokens: 8, messages: user('k') });

  test('security: wrong keys get 401 from both SDKs, the right key works', async () => {
    const strict = await startFakeUpstream({ apiKey: 'sekret', ollamaLoaded: ['llama3.2'] });
    try {
      const bad = new OpenAI({ apiKey: 'wrong', baseURL: strict.openaiBaseURL, maxRetries: 0 });
      expect(await rejection(bad.models.list())).toBeInstanceOf(OpenAI.AuthenticationError);
      const badA = new Anthropic({ apiKey: 'wrong', baseURL: strict.anthropicBaseURL, maxRetries: 0 });
      expect(await rejection(badA.messages.create(params('claude-haiku-4-5')))).toBeInstanceOf(Anthropic.AuthenticationError);
      const good = new Anthropic({ apiKey: 'sekret', baseURL: strict.anthropicBaseURL, maxRetries: 0 });
      expect((await good.messages.create(params('claude-haiku-4-5'))).content[0]).toMatchObject({ text: expectedReply('k') });
      // Ollama has no auth; ollamaLoaded is normalised to name:tag.
      const ps = (await (await fetch(`${strict.ollamaBaseURL}/api/ps`)).json()) as { models: { name: string }[] };
      expect(ps.models.map((m) => m.name)).toEqual(['llama3.2:latest']);
    } finally {
      await strict.stop();
    }
  });
});
