// A pipeline started with an API key runs as that key: its allowed models and budget hold for
// every LLM step, its usage is the key's, and a key revoked before the run starts stops it. (Before,
// executions ran as their owner, so a key limited to one model could call any through a pipeline.)
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, createApiKey, expectStatus, register, testEnv } from '../helpers/client.ts';
import { definePipeline, executePipeline, stepOf, waitForExecution } from './helpers.ts';

const ask = { name: 'ask', steps: [{ id: 'ask', type: 'llm', provider: 'echo', model: 'echo', prompt: 'hello pipeline' }] };
const keyUsage = async (app: TestApp, token: string, keyId: string) =>
  expectStatus(await app.request(`/api/v1/auth/api-keys/${keyId}/usage`, { headers: bearer(token) }), 200);

describe.each(kinds)('pipelines started with an API key (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
  });
  afterAll(() => app.close());

  test('happy: its LLM steps are counted as the key’s usage, not only the owner’s', async () => {
    const user = await register(app);
    const key = await createApiKey(app, user.accessToken, { name: 'runner' });
    const pipeline = await definePipeline(app, user.accessToken, ask);
    const done = await waitForExecution(app, key.key, await executePipeline(app, key.key, pipeline.id));
    expect(done.status).toBe('succeeded');
    expect((await keyUsage(app, user.accessToken, key.id)).totals.requests).toBe(1);
    // Started with the owner's session instead: not the key's.
    await waitForExecution(app, user.accessToken, await executePipeline(app, user.accessToken, pipeline.id));
    expect((await keyUsage(app, user.accessToken, key.id)).totals.requests).toBe(1);
  });

  test('security: a key limited to other models cannot call a model through a pipeline', async () => {
    const user = await register(app);
    const key = await createApiKey(app, user.accessToken, { name: 'narrow', allowedModels: ['openai/gpt-*'] });
    const pipeline = await definePipeline(app, user.accessToken, ask);
    const done = await waitForExecution(app, key.key, await executePipeline(app, key.key, pipeline.id));
    expect(done.status).toBe('failed');
    expect(stepOf(done, 'ask').error.code).toBe('forbidden');
    expect((await keyUsage(app, user.accessToken, key.id)).totals.requests).toBe(0);
  });
});

describe.each(kinds)('a pipeline whose API key is revoked before it runs (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    // One execution at a time, and slow replies: the second waits in the queue behind the first.
    app = await createTestApp(kind, { ...testEnv, PIPELINE_CONCURRENCY: '1', ECHO_DELAY_MS: '40' });
  });
  afterAll(() => app.close());

  test('security: it fails (unauthorized) without calling a model', async () => {
    const user = await register(app);
    const key = await createApiKey(app, user.accessToken, { name: 'revoked' });
    const blocker = await definePipeline(app, user.accessToken, {
      name: 'blocker',
      steps: [{ id: 'slow', type: 'llm', provider: 'echo', model: 'echo', prompt: 'word '.repeat(200) }],
    });
    const blocking = await executePipeline(app, user.accessToken, blocker.id);
    await waitForExecution(app, user.accessToken, blocking, (execution) => execution.status === 'running');
    const pipeline = await definePipeline(app, user.accessToken, ask);
    const queued = await executePipeline(app, key.key, pipeline.id);
    expect((await app.request(`/api/v1/auth/api-keys/${key.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
      204,
    );
    await expectStatus(
      await app.request(`/api/v1/pipeline-executions/${blocking}/cancel`, { method: 'POST', headers: bearer(user.accessToken) }),
      200,
    );
    const done = await waitForExecution(app, user.accessToken, queued);
    expect(done.status).toBe('failed');
    expect(done.error).toEqual({ code: 'unauthorized', message: 'The API key this execution was started with was revoked' });
    expect(stepOf(done, 'ask').status).not.toBe('succeeded');
    expect((await keyUsage(app, user.accessToken, key.id)).totals.requests).toBe(0);
  });
});
