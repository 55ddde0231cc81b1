import { describe, expect, test } from 'bun:test';
import { createEchoProvider, splitWords } from '../../src/infra/llm/echo.ts';
import { streamWithResilience } from '../../src/infra/llm/resilient.ts';
import { collect, request, silentLog } from './helpers.ts';

describe('echo provider', () => {
  test.each(['hello world', '  leading and  double  spaces\nand a newline\t', 'one', '   '])(
    'happy: replies with the last user message exactly: %j',
    async (text) => {
      const echo = createEchoProvider({ delayMs: 0 });
      const out = await collect(
        echo.stream({
          ...request('echo', text),
          messages: [
            { role: 'user', content: 'older question' },
            { role: 'assistant', content: 'older answer' },
            { role: 'user', content: text },
          ],
        }),
      );
      expect(out.text).toBe(text);
      expect(out.done?.finishReason).toBe('stop');
      expect(out.events.at(-1)?.type).toBe('done');
    },
  );

  test('happy: streams word by word with the configured delay between words', async () => {
    const echo = createEchoProvider({ delayMs: 40 });
    const out = await collect(echo.stream(request('echo', 'a b c d')));
    expect(out.deltas).toEqual(['a ', 'b ', 'c ', 'd']);
    expect(out.ms).toBeGreaterThanOrEqual(110); // 3 gaps of 40 ms
    expect(out.ms).toBeLessThan(400);
  });

  test('happy: usage counts words', async () => {
    const echo = createEchoProvider({ delayMs: 0 });
    const out = await collect(echo.stream({ ...request('echo', 'three little words'), system: 'be nice' }));
    expect(out.done?.usage).toEqual({ inputTokens: 5, outputTokens: 3 });
  });

  test('happy: the last user message counts, even after an assistant turn', async () => {
    const echo = createEchoProvider({ delayMs: 0 });
    const out = await collect(
      echo.stream({
        ...request('echo', 'x'),
        messages: [
          { role: 'user', content: 'mine' },
          { role: 'assistant', content: 'theirs' },
        ],
      }),
    );
    expect(out.text).toBe('mine');
  });

  test('happy: an abort stops it promptly, quietly, without done', async () => {
    const echo = createEchoProvider({ delayMs: 1000 });
    const ac = new AbortController();
    const out = await collect(echo.stream(request('echo', 'a b c', { signal: ac.signal })), () => ac.abort());
    expect(out.ms).toBeLessThan(100);
    expect(out.deltas).toEqual(['a ']);
    expect(out.done).toBeUndefined();
    expect(out.error).toBeUndefined();
  });

  test('happy: an abort during the delay ends it without waiting for the timer', async () => {
    const echo = createEchoProvider({ delayMs: 5000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const out = await collect(echo.stream(request('echo', 'a b', { signal: ac.signal })));
    expect(out.ms).toBeLessThan(150);
    expect(out.deltas).toEqual(['a ']);
  });

  test('happy: through streamWithResilience with the caller aborting', async () => {
    const echo = createEchoProvider({ delayMs: 1000 });
    const ac = new AbortController();
    const out = await collect(
      streamWithResilience({
        providers: new Map([['echo', echo]]),
        attempts: [{ provider: 'echo', model: 'echo' }],
        request: { messages: [{ role: 'user', content: 'a b c' }], maxTokens: 5, temperature: 0 },
        signal: ac.signal,
        firstTokenTimeoutMs: 500,
        idleTimeoutMs: 5000,
        totalTimeoutMs: 5000,
        maxRetries: 0,
        retryBaseMs: 10,
        log: silentLog,
      }),
      (event) => {
        if (event.type === 'delta') ac.abort();
      },
    );
    expect(out.ms).toBeLessThan(100);
    expect(out.error).toBeUndefined();
    expect(out.attempts).toEqual(['echo:echo']);
    expect(out.text).toBe('a ');
  });

  test('happy: lists one model', async () => {
    expect(await createEchoProvider({ delayMs: 0 }).listModels()).toEqual([
      { id: 'echo', provider: 'echo', name: 'echo', capabilities: ['chat', 'stream'] },
    ]);
  });

  test('happy: splitWords keeps every character', () => {
    expect(splitWords(' a  b\n')).toEqual([' a  ', 'b\n']);
    expect(splitWords('')).toEqual([]);
  });
});
