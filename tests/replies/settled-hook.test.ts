// The reply engine's `onSettled` hook (GenerationInput), which the Responses API stores its
// responses with: it is awaited once the reply ended, whatever its status, before the last event
// (`done` or `error`) reaches the stream, so a reader that saw the end finds what the hook kept;
// and a hook that fails is logged, never the reply's failure.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { GenerationResult } from '../../src/modules/replies/service.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { register, testEnv } from '../helpers/client.ts';

describe.each(kinds)('the onSettled hook (%s)', (_label, kind) => {
  let app: TestApp;
  let userId: string;
  beforeAll(async () => {
    app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
    userId = (await register(app)).userId;
  });
  afterAll(() => app?.close());

  const start = (onSettled: (result: GenerationResult, streamId: string) => Promise<void>) =>
    app.services.replies.start({
      userId,
      apiKeyId: null,
      chatId: null,
      userMessageId: null,
      provider: 'echo',
      model: 'echo',
      history: [{ role: 'user', content: 'settle this' }],
      onSettled,
    });

  test('happy: awaited with the result and the stream id, before the stream carries `done`', async () => {
    const seen: { status: string; text: string; streamId: string; lastEvent: string | undefined; ended: boolean }[] = [];
    const started = await start(async (result, streamId) => {
      const { events, ended } = await app.services.buffers.snapshot(streamId);
      seen.push({ status: result.status, text: result.text, streamId, lastEvent: events.at(-1)?.event, ended });
    });
    const result = await started.done;
    expect(result.status).toBe('complete');
    expect(seen).toEqual([{ status: 'complete', text: 'settle this', streamId: started.streamId, lastEvent: 'delta', ended: false }]);
    const { events, ended } = await app.services.buffers.snapshot(started.streamId);
    expect([events.at(-1)?.event, ended]).toEqual(['done', true]);
  });

  test('error: a hook that throws is logged; the reply still ends with `done`', async () => {
    const started = await start(async () => {
      throw new Error('the hook broke');
    });
    expect((await started.done).status).toBe('complete');
    expect((await app.services.buffers.snapshot(started.streamId)).events.at(-1)?.event).toBe('done');
    expect(app.logs.some((line) => line.msg === 'a reply hook failed' && line.error === 'the hook broke')).toBe(true);
  });
});
