// An instance killed (-9) in the middle of an execution: another instance finishes it, and the
// step whose result was stored before the kill is not run (paid) again. The killed instance is a
// real child process (`bun src/cli.ts serve`); the one that finishes runs in this process.
// With Redis, the second instance takes the BullMQ job over once the dead one's lock lapses;
// without (SQLite, the in-process queue), the restarted instance re-queues what was left running.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedReply, type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { type RunningBinary, repoRoot, startBinary } from '../helpers/binary.ts';
import { httpOfUrl, register, uniqueText, waitUntil } from '../helpers/client.ts';
import { llmEnv, upstreamCalls } from '../helpers/llm.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { definePipeline, executePipeline, getExecution, stepOf, waitForExecution } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  // The second step (fake-slow) takes about five seconds: long enough to kill its instance mid-call.
  fake = await startFakeUpstream({ slowChunkMs: 100 });
});
afterAll(() => fake.stop());

const jwtSecret = 'takeover-secret-for-both-instances-0123456789';
const stallMs = '2000';

/** Starts the server from source as a child process. */
const startChild = (env: Record<string, string | undefined>) =>
  startBinary({
    path: process.execPath,
    args: ['src/cli.ts', 'serve'],
    cwd: repoRoot,
    env: { ...llmEnv(fake, { LLM_MAX_RETRIES: '0' }), ...env },
  });

/**
 * Runs a two-step pipeline on `child`, kills it -9 while the second step's model call streams,
 * lets `survivor()` finish the execution, and checks what the upstream was asked.
 */
async function killMidExecution(child: RunningBinary, survivor: () => Promise<TestApp>) {
  const http = httpOfUrl(child.url);
  const user = await register(http);
  const [firstPrompt, secondPrompt] = [uniqueText('first'), uniqueText('second')];
  const pipeline = await definePipeline(http, user.accessToken, {
    name: 'takeover',
    steps: [
      { id: 'first', type: 'llm', provider: 'openai', model: 'gpt-4o-mini', prompt: firstPrompt },
      { id: 'second', type: 'llm', provider: 'openai', model: 'fake-slow', prompt: `${secondPrompt} {{steps.first.output}}` },
    ],
  });
  const executionId = await executePipeline(http, user.accessToken, pipeline.id);
  const secondText = `${secondPrompt} ${expectedReply(firstPrompt)}`;
  await waitUntil(() => upstreamCalls(fake, secondText).length === 1, 'the second step’s model call to start', 20_000);
  const before = await getExecution(http, user.accessToken, executionId);
  expect(stepOf(before, 'first')).toMatchObject({ status: 'succeeded', attempts: 1 });
  expect(stepOf(before, 'second')).toMatchObject({ status: 'running', attempts: 1 });

  child.proc.kill('SIGKILL');
  await child.proc.exited;
  const app = await survivor();
  try {
    app.services.pipelines.start();
    const done = await waitForExecution(app, user.accessToken, executionId, undefined, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', output: expectedReply(secondText, 'fake-slow') });
    expect(stepOf(done, 'first')).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(stepOf(done, 'second')).toMatchObject({ status: 'succeeded', attempts: 2 });
    // The stored step was not asked again; the interrupted one was, once more.
    expect(upstreamCalls(fake, firstPrompt)).toHaveLength(1);
    const calls = upstreamCalls(fake, secondText);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.completed).toBe(false);
    expect(calls[1]!.completed).toBe(true);
  } finally {
    await app.close();
  }
}

describe.if(hasPostgres && hasRedis)('an execution whose instance is killed, on BullMQ', () => {
  test('happy: another instance takes the job over and finishes it without re-running the stored step', async () => {
    const database = await createTestDatabase({ migrated: true });
    const redis = createTestRedisPrefix();
    const shared = {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      JWT_SECRET: jwtSecret,
      PIPELINE_STALL_MS: stallMs,
    };
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-takeover-'));
    const child = await startChild({ ...shared, DATA_DIR: dataDir });
    try {
      await killMidExecution(child, () => createTestApp(undefined, { ...llmEnv(fake, { LLM_MAX_RETRIES: '0' }), ...shared }));
    } finally {
      child.proc.kill('SIGKILL');
      await redis.cleanup();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('an execution whose instance is killed, on the in-process queue', () => {
  test('happy: the restarted instance re-queues it and finishes it without re-running the stored step', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-restart-'));
    const shared = { DATA_DIR: dataDir, JWT_SECRET: jwtSecret };
    const child = await startChild(shared);
    try {
      await killMidExecution(child, () => createTestApp(undefined, { ...llmEnv(fake, { LLM_MAX_RETRIES: '0' }), ...shared }));
    } finally {
      child.proc.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
