// Pipeline executions on every storage kind (the in-process queue with SQLite, BullMQ with
// Postgres and Redis), against the fake LLM upstream: parallel branches, retries, failure,
// cancel mid-step (the upstream sees the abort), progress events resumed after a drop,
// websocket events, idempotent starts, version pinning, file and transcribe steps.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { AppError } from '../../src/http/errors.ts';
import type { PipelineSources } from '../../src/modules/pipelines/service.ts';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, expectIncreasing, expectStatus, type Json, register, uniqueText, waitUntil } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { SseReader } from '../helpers/sse.ts';
import { WsClient } from '../helpers/ws.ts';
import { definePipeline, eventsOf, executePipeline, getExecution, stepOf, waitForExecution } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  // fake-slow sends its ~55 words 40 ms apart: a step that takes about two seconds.
  fake = await startFakeUpstream({ slowChunkMs: 40 });
});
afterAll(() => fake.stop());

/** A test's own files and audio: what the files and voice services answer for their owner. */
const files = new Map<string, { userId: string; text: string }>();
const sources: PipelineSources = {
  async fileText(userId, fileId, maxChars) {
    const file = files.get(fileId);
    if (!file || file.userId !== userId) throw new AppError('not_found', 'File not found');
    return file.text.slice(0, maxChars);
  },
};

const slowLlm = (id: string, prompt: string, extra: Json = {}) => ({
  id,
  type: 'llm',
  provider: 'openai',
  model: 'fake-slow',
  prompt,
  ...extra,
});

for (const [name, kind] of kinds) {
  describe(`pipeline executions on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, llmEnv(fake, { LLM_MAX_RETRIES: '0', PIPELINE_RETRY_BASE_MS: '50' }), { pipelineSources: sources });
    });
    afterAll(() => app.close());

    test('happy: independent steps run in parallel, their dependant waits for both, and the output joins them', async () => {
      const user = await register(app);
      const [left, right] = [uniqueText('left'), uniqueText('right')];
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'diamond',
        steps: [
          { id: 'topic', type: 'template', template: '{{input.topic}}' },
          slowLlm('left', `${left}`),
          slowLlm('right', `${right}`, { dependsOn: ['topic'] }),
          { id: 'join', type: 'template', template: 'L={{steps.left.output}}|R={{steps.right.output}}|T={{steps.topic.output}}' },
        ],
        output: '{{steps.join.output}}!',
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id, { topic: 42 });
      const done = await waitForExecution(app, user.accessToken, executionId);
      expect(done.status).toBe('succeeded');
      expect(done.version).toBe(1);
      expect(done.input).toEqual({ topic: '42' });
      const expected = `L=${expectedReply(left, 'fake-slow')}|R=${expectedReply(right, 'fake-slow')}|T=42`;
      expect(done.output).toBe(`${expected}!`);
      const [a, b, join] = [stepOf(done, 'left'), stepOf(done, 'right'), stepOf(done, 'join')];
      for (const step of [a, b]) {
        expect(step).toMatchObject({ status: 'succeeded', attempts: 1, provider: 'openai', model: 'fake-slow', error: null });
        expect(step.usage.outputTokens).toBeGreaterThan(0);
        expect(step.durationMs).toBeGreaterThan(1000);
      }
      // The two slow calls overlapped: each started before the other finished.
      const at = (time: string) => Date.parse(time);
      expect(at(a.startedAt)).toBeLessThan(at(b.finishedAt));
      expect(at(b.startedAt)).toBeLessThan(at(a.finishedAt));
      expect(done.durationMs).toBeLessThan(a.durationMs + b.durationMs);
      // The dependant started only once both were stored.
      expect(at(join.startedAt)).toBeGreaterThanOrEqual(Math.max(at(a.finishedAt), at(b.finishedAt)));
      expect(done.usage.outputTokens).toBe(a.usage.outputTokens + b.usage.outputTokens);
      expect(upstreamCalls(fake, left)).toHaveLength(1);
      expect(upstreamCalls(fake, right)).toHaveLength(1);
      // Usage is recorded for the caller like any reply's.
      const usage = await expectStatus(await app.request('/api/v1/users/me/usage', { headers: bearer(user.accessToken) }), 200);
      expect(JSON.stringify(usage)).toContain('fake-slow');
    });

    test('happy: a step whose upstream fails once is retried with backoff and the execution succeeds', async () => {
      const user = await register(app);
      const prompt = uniqueText('flaky');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'retry',
        steps: [{ id: 'flaky', type: 'llm', provider: 'openai', model: 'gpt-4o-mini', prompt, retries: 2 }],
      });
      fake.failNext(1, 500);
      const executionId = await executePipeline(app, user.accessToken, pipeline.id);
      const done = await waitForExecution(app, user.accessToken, executionId);
      expect(done.status).toBe('succeeded');
      expect(stepOf(done, 'flaky')).toMatchObject({ status: 'succeeded', attempts: 2, output: expectedReply(prompt), error: null });
      expect(upstreamCalls(fake, prompt)).toHaveLength(2);
      const events = await new SseReader(await eventsOf(app, user.accessToken, executionId)).rest();
      const flaky = events
        .filter((event) => event.event === 'step')
        .map((event) => [event.data.status, event.data.attempts, event.data.error?.code ?? null]);
      expect(flaky).toEqual([
        ['running', 1, null],
        ['pending', 1, 'upstream_error'],
        ['running', 2, null],
        ['succeeded', 2, null],
      ]);
    });

    test('error: a step that keeps failing fails the execution after its retries; its dependants are skipped', async () => {
      const user = await register(app);
      const prompt = uniqueText('doomed');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'fail',
        steps: [
          { id: 'doomed', type: 'llm', provider: 'openai', model: 'fake-error-500', prompt, retries: 1 },
          { id: 'after', type: 'template', template: 'never {{steps.doomed.output}}' },
        ],
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id);
      const done = await waitForExecution(app, user.accessToken, executionId);
      expect(done).toMatchObject({
        status: 'failed',
        output: null,
        error: { code: 'step_failed', message: expect.stringContaining('"doomed"') },
      });
      expect(stepOf(done, 'doomed')).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'upstream_error' } });
      expect(stepOf(done, 'after')).toMatchObject({ status: 'skipped', attempts: 0, output: null });
      expect(upstreamCalls(fake, prompt)).toHaveLength(2);
    });

    test('error: a step past its timeout is stopped (the upstream sees the abort) and fails as timeout', async () => {
      const user = await register(app);
      const prompt = uniqueText('too slow');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'timeout',
        steps: [slowLlm('slow', prompt, { timeoutMs: 300, retries: 0 })],
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id);
      const done = await waitForExecution(app, user.accessToken, executionId);
      expect(stepOf(done, 'slow')).toMatchObject({ status: 'failed', error: { code: 'timeout' } });
      await waitUntil(() => upstreamCalls(fake, prompt)[0]?.aborted, 'the upstream request to be aborted', 5000);
    });

    test('happy: cancel mid-step aborts the running model call upstream and cancels what is left', async () => {
      const user = await register(app);
      const prompt = uniqueText('cancel me');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'cancel',
        steps: [slowLlm('slow', prompt), { id: 'after', type: 'template', template: '{{steps.slow.output}}' }],
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id);
      await waitUntil(() => upstreamCalls(fake, prompt).length === 1, 'the upstream call to start', 10_000);
      const cancelled = await expectStatus(
        await app.request(`/api/v1/pipeline-executions/${executionId}/cancel`, { method: 'POST', headers: bearer(user.accessToken) }),
        200,
      );
      expect(cancelled.status).toBe('cancelled');
      expect(stepOf(cancelled, 'slow').status).toBe('cancelled');
      expect(stepOf(cancelled, 'after').status).toBe('cancelled');
      const [call] = upstreamCalls(fake, prompt);
      await waitUntil(() => call?.aborted, 'the upstream request to be aborted', 3000);
      expect(call!.completed).toBe(false);
      await expectError(
        await app.request(`/api/v1/pipeline-executions/${executionId}/cancel`, { method: 'POST', headers: bearer(user.accessToken) }),
        409,
        'conflict',
      );
      // It stays cancelled: the engine stopped without overwriting it.
      await Bun.sleep(300);
      const after = await getExecution(app, user.accessToken, executionId);
      expect(after.status).toBe('cancelled');
      expect(stepOf(after, 'slow').status).toBe('cancelled');
      const events = await new SseReader(await eventsOf(app, user.accessToken, executionId)).rest();
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { executionId, status: 'cancelled' } });
    });

    test('happy: progress events resume after a dropped connection with Last-Event-ID, missing and repeating nothing', async () => {
      const user = await register(app);
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'events',
        steps: [
          { id: 'one', type: 'template', template: 'a {{input.x}}' },
          slowLlm('two', uniqueText('events')),
          { id: 'three', type: 'template', template: '{{steps.two.output}} c' },
        ],
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id, { x: 'b' });
      const first = new SseReader(await eventsOf(app, user.accessToken, executionId));
      const seen = await first.read(3, 15_000);
      await first.cancel();
      const resumed = new SseReader(await eventsOf(app, user.accessToken, executionId, { 'last-event-id': seen.at(-1)!.id }));
      const rest = await resumed.rest(30_000);
      expect(resumed.ended).toBe(true);
      const all = [...seen, ...rest];
      expectIncreasing(all.map((event) => event.id));
      const whole = await new SseReader(await eventsOf(app, user.accessToken, executionId)).rest();
      expect(all).toEqual(whole);
      expect(whole[0]).toMatchObject({ event: 'execution', data: { executionId, pipelineId: pipeline.id, status: 'queued' } });
      expect(whole.at(-1)).toMatchObject({
        event: 'done',
        data: { executionId, status: 'succeeded', output: expect.stringMatching(/ c$/) },
      });
      expect(whole.filter((event) => event.event === 'step' && event.data.status === 'succeeded').map((event) => event.data.id)).toEqual([
        'one',
        'two',
        'three',
      ]);
      await expectError(await eventsOf(app, user.accessToken, executionId, { 'last-event-id': 'garbage' }), 422, 'validation_error');
    });

    test('happy: the owner’s websockets get pipeline.updated as the execution moves on', async () => {
      const user = await register(app);
      app.app.listen({ port: 0, hostname: '127.0.0.1' });
      const socket = await WsClient.ready(`ws://127.0.0.1:${app.app.server!.port}/api/v1/ws`, user.accessToken);
      try {
        const pipeline = await definePipeline(app, user.accessToken, {
          name: 'ws',
          steps: [{ id: 'only', type: 'template', template: 'hi' }],
        });
        const executionId = await executePipeline(app, user.accessToken, pipeline.id);
        const last = await socket.waitFor((frame) => frame.type === 'pipeline.updated' && frame.status === 'succeeded', 'the final update');
        expect(last).toEqual({ type: 'pipeline.updated', pipelineId: pipeline.id, executionId, status: 'succeeded', step: null });
        const updates = socket.frames.filter((frame) => frame.type === 'pipeline.updated');
        expect(updates[0]).toMatchObject({ executionId, status: 'queued', step: null });
        expect(updates.some((frame) => frame.step?.id === 'only' && frame.step.status === 'succeeded')).toBe(true);
      } finally {
        socket.ws.close();
        await app.app.server?.stop(true);
      }
    });

    test('happy: the same Idempotency-Key starts one execution; inputs the templates need are required', async () => {
      const user = await register(app);
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'idem',
        steps: [{ id: 'a', type: 'template', template: '{{input.who}}' }],
      });
      const headers = { 'idempotency-key': crypto.randomUUID() };
      const first = await executePipeline(app, user.accessToken, pipeline.id, { who: 'me' }, headers);
      const again = await app.request(`/api/v1/pipelines/${pipeline.id}/execute`, {
        method: 'POST',
        headers: { ...bearer(user.accessToken), ...headers },
        json: { input: { who: 'me' } },
      });
      expect(again.headers.get('idempotency-replayed')).toBe('true');
      expect((await expectStatus(again, 202)).executionId).toBe(first);
      const missing = await app.request(`/api/v1/pipelines/${pipeline.id}/execute`, {
        method: 'POST',
        headers: bearer(user.accessToken),
        json: {},
      });
      const error = (await expectError(missing, 422, 'validation_error')).error;
      expect(error.details).toEqual([{ field: 'body.input.who', message: expect.any(String) }]);
      expect((await waitForExecution(app, user.accessToken, first)).output).toBe('me');
    });

    test('happy: an execution keeps its version when the pipeline is changed or deleted while it runs', async () => {
      const user = await register(app);
      const prompt = uniqueText('pinned');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'pinned',
        steps: [slowLlm('slow', prompt), { id: 'tail', type: 'template', template: 'v1 {{steps.slow.output}}' }],
      });
      const executionId = await executePipeline(app, user.accessToken, pipeline.id);
      await waitUntil(() => upstreamCalls(fake, prompt).length === 1, 'the first step to run', 10_000);
      await expectStatus(
        await app.request(`/api/v1/pipelines/${pipeline.id}`, {
          method: 'PATCH',
          headers: bearer(user.accessToken),
          json: { steps: [{ id: 'tail', type: 'template', template: 'v2' }] },
        }),
        200,
      );
      expect((await app.request(`/api/v1/pipelines/${pipeline.id}`, { method: 'DELETE', headers: bearer(user.accessToken) })).status).toBe(
        204,
      );
      const done = await waitForExecution(app, user.accessToken, executionId);
      expect(done).toMatchObject({ status: 'succeeded', version: 1, output: `v1 ${expectedReply(prompt, 'fake-slow')}` });
    });

    test('happy: a file step reads the caller’s file through the wired source; transcribe without a source fails clearly', async () => {
      const user = await register(app);
      const other = await register(app);
      files.set('doc-1', { userId: user.userId, text: 'The quick brown fox' });
      files.set('doc-2', { userId: other.userId, text: 'secret' });
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'files',
        steps: [
          { id: 'read', type: 'file', fileId: '{{input.file}}', maxChars: 9 },
          { id: 'shout', type: 'template', template: '{{steps.read.output}}!' },
        ],
      });
      const ok = await waitForExecution(
        app,
        user.accessToken,
        await executePipeline(app, user.accessToken, pipeline.id, { file: 'doc-1' }),
      );
      expect(ok).toMatchObject({ status: 'succeeded', output: 'The quick!' });
      const foreign = await waitForExecution(
        app,
        user.accessToken,
        await executePipeline(app, user.accessToken, pipeline.id, { file: 'doc-2' }),
      );
      expect(stepOf(foreign, 'read')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'not_found' } });

      const speech = await definePipeline(app, user.accessToken, {
        name: 'speech',
        steps: [{ id: 'words', type: 'transcribe', fileId: 'audio-1' }],
      });
      const unwired = await waitForExecution(app, user.accessToken, await executePipeline(app, user.accessToken, speech.id));
      expect(stepOf(unwired, 'words')).toMatchObject({
        status: 'failed',
        attempts: 1,
        error: { code: 'unavailable', message: expect.stringContaining('not available') },
      });
    });

    test('security: another user’s execution is a 404 to read, cancel or follow', async () => {
      const owner = await register(app);
      const intruder = await register(app);
      const pipeline = await definePipeline(app, owner.accessToken, {
        name: 'mine',
        steps: [{ id: 'a', type: 'template', template: 'x' }],
      });
      const executionId = await executePipeline(app, owner.accessToken, pipeline.id);
      const as = bearer(intruder.accessToken);
      await expectError(await app.request(`/api/v1/pipeline-executions/${executionId}`, { headers: as }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/pipeline-executions/${executionId}/cancel`, { method: 'POST', headers: as }),
        404,
        'not_found',
      );
      await expectError(await eventsOf(app, intruder.accessToken, executionId), 404, 'not_found');
      await expectError(await app.request(`/api/v1/pipeline-executions/${executionId}`), 401, 'unauthorized');
      expect((await waitForExecution(app, owner.accessToken, executionId)).status).toBe('succeeded');
    });

    test('happy: /metrics shows the queue depth and the job and step outcomes', async () => {
      const response = await app.request('/metrics');
      const text = await response.text();
      expect(text).toMatch(/^parley_pipeline_queue_waiting \d+$/m);
      expect(text).toMatch(/^parley_pipeline_queue_active \d+$/m);
      expect(text).toMatch(/^parley_pipeline_jobs_total\{outcome="completed"\} [1-9]\d*$/m);
      expect(text).toMatch(/^parley_pipeline_steps_total\{type="llm",outcome="retried"\} [1-9]\d*$/m);
      expect(text).toMatch(/^parley_pipeline_steps_total\{type="template",outcome="succeeded"\} [1-9]\d*$/m);
    });
  });
}

for (const [name, kind] of kinds) {
  describe(`pipeline LLM steps and the caller's limits on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      // Limits on, with a monthly budget of 20 tokens: the first step spends it.
      app = await createTestApp(
        kind,
        llmEnv(fake, { RATE_LIMIT_ENABLED: 'true', TIER_LIMITS_FREE: 'tokens=20', PIPELINE_RETRY_BASE_MS: '20' }),
      );
    });
    afterAll(() => app.close());

    test('error: an LLM step over the caller’s token budget fails with quota_exceeded, not retried', async () => {
      const user = await register(app);
      const words = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
      const pipeline = await definePipeline(app, user.accessToken, {
        name: 'budget',
        steps: [
          { id: 'spend', type: 'llm', provider: 'echo', prompt: words },
          { id: 'over', type: 'llm', provider: 'echo', prompt: 'more {{steps.spend.output}}' },
        ],
      });
      const done = await waitForExecution(app, user.accessToken, await executePipeline(app, user.accessToken, pipeline.id));
      expect(stepOf(done, 'spend')).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(stepOf(done, 'over')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'quota_exceeded' } });
      expect(done).toMatchObject({ status: 'failed', error: { code: 'step_failed', message: expect.stringContaining('"over"') } });
      const limits = await expectStatus(await app.request('/api/v1/rate-limit', { headers: bearer(user.accessToken) }), 200);
      expect(limits.tokens.used).toBeGreaterThan(20);
    });
  });
}
