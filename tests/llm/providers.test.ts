// The SDK-backed providers (openai, anthropic, ollama) against the fake upstream, one by one.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { createAnthropicProvider } from '../../src/infra/llm/anthropic.ts';
import { createOllamaProvider } from '../../src/infra/llm/ollama.ts';
import { createOpenAiProvider } from '../../src/infra/llm/openai.ts';
import { type LlmProvider, type Sampling, UpstreamError } from '../../src/infra/llm/types.ts';
import { expectedReply, type FakeUpstream, PARTIAL_WORDS, splitWords, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { bodyOf, closedPortUrl, collect, generationRequests, request, waitFor } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream({ slowFirstTokenMs: 2000, slowChunkMs: 300 });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

type Case = { name: 'openai' | 'anthropic' | 'ollama'; make: (baseUrl?: string) => LlmProvider; model: string };

const cases: Case[] = [
  {
    name: 'openai',
    make: (base) => createOpenAiProvider({ apiKey: 'k', baseUrl: base ? `${base}/v1` : fake.openaiBaseURL }),
    model: 'gpt-4o-mini',
  },
  {
    name: 'anthropic',
    make: (base) => createAnthropicProvider({ apiKey: 'k', baseUrl: base ?? fake.anthropicBaseURL }),
    model: 'claude-haiku-4-5',
  },
  {
    name: 'ollama',
    make: (base) => createOllamaProvider({ baseUrl: base ?? fake.ollamaBaseURL }),
    model: 'llama3.2',
  },
];

describe.each(cases)('$name provider', ({ name, make, model }) => {
  const path = name === 'anthropic' ? '/v1/messages' : '/v1/chat/completions';

  test('happy: streams deltas that join into the reply, then one done with usage', async () => {
    const provider = make();
    expect(provider.name).toBe(name);
    const out = await collect(provider.stream(request(model, 'tell me a story')));
    expect(out.error).toBeUndefined();
    expect(out.text).toBe(expectedReply('tell me a story'));
    expect(out.deltas.length).toBe(splitWords(expectedReply('tell me a story')).length);
    expect(out.events.at(-1)).toEqual(out.done!);
    expect(out.events.filter((e) => e.type === 'done').length).toBe(1);
    expect(out.done?.finishReason).toBe('stop');
    // The fake counts words: "tell me a story" = 4 in, "Fake reply to: tell me a story" = 7 out.
    expect(out.done?.usage).toEqual({ inputTokens: 4, outputTokens: 7 });
  });

  test('happy: history, system prompt and max_tokens reach upstream', async () => {
    const provider = make();
    const out = await collect(
      provider.stream({
        ...request(model, 'and now?'),
        system: 'Be brief.',
        messages: [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: 'and now?' },
        ],
        maxTokens: 77,
        temperature: 0.25,
      }),
    );
    expect(out.text).toBe(expectedReply('and now?'));
    const [rec] = generationRequests(fake.requests);
    expect(rec?.path).toBe(path);
    const body = bodyOf(rec);
    expect(body.model).toBe(model);
    expect(body.stream).toBe(true);
    expect(body.max_tokens).toBe(77);
    const history = [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'and now?' },
    ];
    if (name === 'anthropic') {
      expect(body.system).toBe('Be brief.');
      expect(body.messages).toEqual(history);
      // API version 2026-10-21 (SDK 1.x) rejects sampling parameters: never sent.
      expect(body).not.toHaveProperty('temperature');
      expect(out.done?.usage.inputTokens).toBe(2 + 2 + 2 + 2); // the fake counts the system prompt too
    } else {
      expect(body.messages).toEqual([{ role: 'system', content: 'Be brief.' }, ...history]);
      expect(body.temperature).toBe(0.25);
      expect(body.stream_options).toEqual({ include_usage: true });
    }
  });

  test('happy: sampling options reach upstream as its API names them, and only those it takes', async () => {
    const provider = make();
    const sampling: Sampling = {
      topP: 0.8,
      stop: ['END', '\n'],
      seed: 11,
      presencePenalty: 1,
      frequencyPenalty: -1,
      responseFormat: { type: 'json_schema', jsonSchema: { name: 'answer', schema: { type: 'object' }, strict: true } },
      user: 'end-user-7',
    };
    const out = await collect(provider.stream(request(model, 'sample me', { sampling })));
    expect(out.text).toBe(expectedReply('sample me'));
    const body = bodyOf(generationRequests(fake.requests)[0]!) as Record<string, unknown>;
    if (name === 'anthropic') {
      // API version 2026-10-21 refuses top_p (and any sampling parameter) and whitespace-only
      // stop sequences; the Messages API has no seed, penalties, response_format or user.
      expect(body.stop_sequences).toEqual(['END']);
      for (const field of ['top_p', 'temperature', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'response_format', 'user'])
        expect(body).not.toHaveProperty(field);
    } else {
      expect(body).toMatchObject({
        top_p: 0.8,
        stop: ['END', '\n'],
        seed: 11,
        presence_penalty: 1,
        frequency_penalty: -1,
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } },
        user: 'end-user-7',
      });
    }
  });

  test('happy: without sampling options nothing of them is sent', async () => {
    const provider = make();
    await collect(provider.stream(request(model, 'plain')));
    const body = bodyOf(generationRequests(fake.requests)[0]!) as Record<string, unknown>;
    for (const field of ['top_p', 'stop', 'stop_sequences', 'seed', 'presence_penalty', 'frequency_penalty', 'response_format', 'user'])
      expect(body).not.toHaveProperty(field);
  });

  test.each([
    [400, false],
    [401, false],
    [429, true],
    [500, true],
    [503, true],
  ])('error: fake-error-%d becomes an UpstreamError (retryable %p)', async (status, retryable) => {
    const out = await collect(make().stream(request(`fake-error-${status}`, 'hi')));
    expect(out.error).toBeInstanceOf(UpstreamError);
    const err = out.error as UpstreamError;
    expect(err.options).toMatchObject({ status, retryable });
    expect(err.message).toContain(name);
    expect(out.events).toEqual([]);
  });

  test('error: a truncated stream is an error, not a success', async () => {
    const out = await collect(make().stream(request('fake-truncated', 'cut me')));
    expect(out.text).toBe(splitWords(expectedReply('cut me')).slice(0, PARTIAL_WORDS).join(''));
    expect(out.done).toBeUndefined();
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).message).toBe('upstream stream ended before it finished');
    expect((out.error as UpstreamError).options.retryable).toBe(true);
  });

  test('error: an in-band error after some deltas is thrown as UpstreamError', async () => {
    const out = await collect(make().stream(request('fake-mid-stream-error', 'boom')));
    expect(out.text).toBe('Fake reply to: ');
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).options.status).toBeUndefined();
    expect(out.done).toBeUndefined();
  });

  test('happy: aborting mid-stream ends the iteration quietly and promptly, and upstream sees it', async () => {
    const ac = new AbortController();
    let abortedAt = 0;
    const out = await collect(make().stream(request('fake-slow', 'slowly', { signal: ac.signal })), (event) => {
      if (event.type === 'delta' && !abortedAt) {
        abortedAt = performance.now();
        ac.abort();
      }
    });
    expect(performance.now() - abortedAt).toBeLessThan(100);
    expect(out.error).toBeUndefined();
    expect(out.done).toBeUndefined();
    expect(out.deltas.length).toBe(1);
    const rec = generationRequests(fake.requests)[0]!;
    await waitFor(() => rec.aborted);
    expect(rec.completed).toBe(false);
  });

  test('happy: aborting before the first byte ends quietly too', async () => {
    const ac = new AbortController();
    const pending = collect(make().stream(request('fake-slow-first-token', 'x', { signal: ac.signal })));
    await waitFor(() => generationRequests(fake.requests).length === 1);
    const t0 = performance.now();
    ac.abort();
    const out = await pending;
    expect(performance.now() - t0).toBeLessThan(100);
    expect(out.error).toBeUndefined();
    expect(out.events).toEqual([]);
    await waitFor(() => generationRequests(fake.requests)[0]!.aborted);
  });

  test('happy: an already aborted signal sends nothing upstream', async () => {
    const ac = new AbortController();
    ac.abort();
    const out = await collect(make().stream(request(model, 'x', { signal: ac.signal })));
    expect(out.events).toEqual([]);
    expect(out.error).toBeUndefined();
    expect(fake.requests.length).toBe(0);
  });

  test('happy: listModels returns what upstream lists, and only that', async () => {
    const ids = (await make().listModels()).map((m) => m.id);
    const expected = {
      openai: ['gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'llama3.2:latest', 'qwen2.5:0.5b'],
      // Upstream's dated ids only: adding the configured aliases is createProviders' job.
      anthropic: ['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-7'],
      ollama: ['llama3.2:latest', 'qwen2.5:0.5b'],
    }[name];
    expect(ids).toEqual(expected);
    const [first] = await make().listModels();
    expect(first).toEqual({ id: expected[0]!, provider: name, name: expected[0]!, capabilities: ['chat', 'stream'] });
  });

  test('error: listModels rejects when upstream is down (the fallback is createProviders’)', async () => {
    await expect(make(await closedPortUrl()).listModels()).rejects.toBeInstanceOf(Error);
  });

  test('happy: listModels returns an empty list when upstream lists nothing', async () => {
    // Each API's empty model list, at the path that provider asks.
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req) => {
        const path = new URL(req.url).pathname;
        if (path === '/api/tags') return Response.json({ models: [] });
        if (path === '/v1/models') return Response.json({ object: 'list', data: [], has_more: false, first_id: null, last_id: null });
        return new Response('not found', { status: 404 });
      },
    });
    try {
      expect(await make(`http://127.0.0.1:${server.port}`).listModels()).toEqual([]);
    } finally {
      await server.stop(true);
    }
  });

  test('error: an unreachable upstream is a retryable UpstreamError without status', async () => {
    const out = await collect(make(await closedPortUrl()).stream(request(model, 'x')));
    expect(out.error).toBeInstanceOf(UpstreamError);
    expect((out.error as UpstreamError).options).toMatchObject({ retryable: true });
    expect((out.error as UpstreamError).options.status).toBeUndefined();
  });
});

describe('openai provider without usage from upstream', () => {
  test('happy: estimates usage at ~4 characters a token', async () => {
    // A server that streams a reply but ignores stream_options.include_usage.
    const server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => {
        const chunk = (delta: object, finish: string | null) =>
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        const body = `${chunk({ content: 'abcdefgh' }, null) + chunk({}, 'length')}data: [DONE]\n\n`;
        return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
      },
    });
    try {
      const provider = createOpenAiProvider({ apiKey: 'k', baseUrl: `http://127.0.0.1:${server.port}/v1` });
      const out = await collect(provider.stream({ ...request('m', '12345678'), system: '1234' }));
      expect(out.text).toBe('abcdefgh');
      expect(out.done).toEqual({ type: 'done', finishReason: 'length', usage: { inputTokens: 3, outputTokens: 2 } });
    } finally {
      await server.stop(true);
    }
  });
});
