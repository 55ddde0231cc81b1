// Pipelines end to end through the executable, on Postgres and Redis (BullMQ) and on its defaults
// (SQLite, the in-process queue): define, run, follow the events, read the result, cancel.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { bearer, expectStatus, type Http, httpOfUrl, register } from '../helpers/client.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { definePipeline, executePipeline, waitForExecution } from '../pipelines/helpers.ts';

type Setup = { env: Record<string, string>; cleanup: () => Promise<void> };

const setups: [string, boolean, () => Promise<Setup>][] = [
  ['its defaults (SQLite, the in-process queue)', true, async () => ({ env: {}, cleanup: async () => {} })],
  [
    'Postgres and Redis (BullMQ)',
    hasPostgres && hasRedis,
    async () => {
      const database = await createTestDatabase();
      const redis = createTestRedisPrefix();
      return {
        env: { DATABASE_URL: database.url, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redis.prefix },
        cleanup: async () => {
          await redis.cleanup();
          await database.drop();
        },
      };
    },
  ],
];

for (const [name, available, setUp] of setups) {
  describe.if(available)(`pipelines through the executable on ${name}`, () => {
    let server: RunningBinary;
    let http: Http;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const binary = await copyBinaryToEmptyDir();
      const setup = await setUp();
      const dataDir = mkdtempSync(join(tmpdir(), 'parley-e2e-pipelines-'));
      server = await startBinary({
        path: binary.path,
        cwd: binary.dir,
        env: { ...setup.env, DATA_DIR: dataDir, RATE_LIMIT_ENABLED: 'false', ECHO_DELAY_MS: '50' },
      });
      http = httpOfUrl(server.url);
      cleanup = async () => {
        await server?.stop();
        await setup.cleanup();
        binary.remove();
        rmSync(dataDir, { recursive: true, force: true });
      };
    }, 180_000);
    afterAll(() => cleanup?.());

    test('happy: a pipeline runs to its output, with its events streamed, and a running one is cancelled', async () => {
      const user = await register(http);
      const pipeline = await definePipeline(http, user.accessToken, {
        name: 'e2e',
        steps: [
          { id: 'greet', type: 'template', template: 'hello {{input.name}}' },
          { id: 'echo', type: 'llm', provider: 'echo', prompt: '{{steps.greet.output}} again' },
        ],
      });
      const executionId = await executePipeline(http, user.accessToken, pipeline.id, { name: 'world' });
      const events = await new SseReader(
        await http(`/api/v1/pipeline-executions/${executionId}/events`, { headers: bearer(user.accessToken) }),
      ).rest(30_000);
      expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'succeeded', output: 'hello world again' } });
      const done = await waitForExecution(http, user.accessToken, executionId);
      expect(done.steps.map((step: { id: string; status: string }) => [step.id, step.status])).toEqual([
        ['greet', 'succeeded'],
        ['echo', 'succeeded'],
      ]);

      const long = await definePipeline(http, user.accessToken, {
        name: 'long',
        steps: [{ id: 'words', type: 'llm', provider: 'echo', prompt: Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ') }],
      });
      const running = await executePipeline(http, user.accessToken, long.id);
      await waitForExecution(http, user.accessToken, running, (execution) => execution.steps[0].status === 'running');
      const cancelled = await expectStatus(
        await http(`/api/v1/pipeline-executions/${running}/cancel`, { method: 'POST', headers: bearer(user.accessToken) }),
        200,
      );
      expect(cancelled.status).toBe('cancelled');
      const metrics = await (await http('/metrics')).text();
      expect(metrics).toMatch(/^parley_pipeline_jobs_total\{outcome="completed"\} [1-9]\d*$/m);
    });
  });
}
