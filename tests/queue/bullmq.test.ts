import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { createLogger } from '../../src/infra/log/index.ts';
import { createBullQueues } from '../../src/infra/queue/bullmq.ts';
import { createTestRedisPrefix, hasRedis, redisUrl } from '../helpers/services.ts';
import { waitUntil } from '../helpers/wait.ts';
import { runQueueSuite } from './queue-suite.ts';

const log = createLogger('warn', () => {});
const { prefix, cleanup } = createTestRedisPrefix();

if (hasRedis) runQueueSuite('BullMQ (Redis)', { open: () => createBullQueues(redisUrl, { prefix, log }), shared: true, cleanup });

describe.if(hasRedis)('BullMQ specifics', () => {
  test('happy: a job whose instance was killed (-9) mid-run is taken over by another once its lock lapses, as the same attempt', async () => {
    const stallMs = 1000;
    const queueName = `takeover-${crypto.randomUUID()}`;
    const child = Bun.spawn([process.execPath, join(import.meta.dir, 'fixtures/hanging-worker.ts')], {
      env: { ...process.env, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, QUEUE_NAME: queueName, STALL_MS: String(stallMs) },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const queues = createBullQueues(redisUrl, { prefix, log });
    try {
      const queue = queues.open<{ n: number }>(queueName, { concurrency: 1, attempts: 1, backoffMs: 10, stallMs });
      await queue.add('orphan', { n: 1 });
      const reader = child.stdout.getReader();
      let out = '';
      while (!out.includes('running orphan')) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`the worker process ended: ${await new Response(child.stderr).text()}`);
        out += new TextDecoder().decode(chunk.value);
      }
      child.kill('SIGKILL');
      await child.exited;
      const killedAt = Date.now();
      const taken: { id: string; attempt: number }[] = [];
      queue.work(async (job) => {
        taken.push({ id: job.id, attempt: job.attempt });
      });
      await waitUntil(() => queue.outcomes().completed === 1, 'another instance to take the job over', 20_000);
      expect(taken).toEqual([{ id: 'orphan', attempt: 1 }]);
      // Not before the dead instance's lock lapsed.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(stallMs / 2);
    } finally {
      child.kill('SIGKILL');
      await queues.close();
    }
  });
});
