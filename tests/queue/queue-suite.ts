// One job-queue conformance suite, run on the in-process queue and on BullMQ (memory.test.ts,
// bullmq.test.ts): every JobQueue behaves the same on both.
import { afterAll, describe, expect, test } from 'bun:test';
import type { JobQueue, QueuedJob, QueueOptions, Queues } from '../../src/infra/queue/types.ts';
import { waitUntil } from '../helpers/wait.ts';

/** Opens a fresh Queues of the backend; `shared` when two of them (two instances) share jobs. */
export type OpenQueues = { open: () => Queues; shared: boolean; cleanup: () => Promise<void> };

const options = (overrides: Partial<QueueOptions> = {}): QueueOptions => ({
  concurrency: 2,
  attempts: 1,
  backoffMs: 10,
  stallMs: 5000,
  ...overrides,
});

type Data = { n: number; label?: string };

export function runQueueSuite(name: string, backend: OpenQueues) {
  describe(`job queue on ${name}`, () => {
    const opened: Queues[] = [];
    let counter = 0;
    /** A queue name of its own for each test. */
    const queueName = (label: string) => `${label}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
    const open = <T = Data>(queue: string, overrides?: Partial<QueueOptions>): JobQueue<T> => {
      const queues = backend.open();
      opened.push(queues);
      return queues.open<T>(queue, options(overrides));
    };
    afterAll(async () => {
      await Promise.all(opened.map((queues) => queues.close()));
      await backend.cleanup();
    });

    test('happy: an added job runs once with its data, as attempt 1 of its attempts', async () => {
      const queue = open(queueName('run'), { attempts: 3 });
      const seen: { id: string; data: Data; attempt: number; maxAttempts: number }[] = [];
      queue.work(async (job) => {
        seen.push({ id: job.id, data: job.data, attempt: job.attempt, maxAttempts: job.maxAttempts });
      });
      expect(queue.working).toBe(true);
      await queue.add('job-1', { n: 1, label: 'héllo ✓' });
      await waitUntil(() => queue.outcomes().completed === 1, 'the job to complete', 10_000);
      expect(seen).toEqual([{ id: 'job-1', data: { n: 1, label: 'héllo ✓' }, attempt: 1, maxAttempts: 3 }]);
      expect(queue.outcomes()).toEqual({ completed: 1, failed: 0, retried: 0, released: 0 });
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
    });

    test('happy: an id waiting or running is not added twice; once finished it may run again', async () => {
      const queue = open(queueName('dedupe'));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const runs: number[] = [];
      await queue.add('same', { n: 1 });
      await queue.add('same', { n: 2 });
      expect((await queue.counts()).waiting).toBe(1);
      queue.work(async (job) => {
        runs.push(job.data.n);
        await gate;
      });
      await waitUntil(async () => (await queue.counts()).active === 1, 'the job to run', 10_000);
      await queue.add('same', { n: 3 });
      release();
      await waitUntil(() => queue.outcomes().completed === 1, 'the job to complete', 10_000);
      expect(runs).toEqual([1]);
      await queue.add('same', { n: 4 });
      await waitUntil(() => queue.outcomes().completed === 2, 'the same id to run again', 10_000);
      expect(runs).toEqual([1, 4]);
    });

    test('happy: at most `concurrency` jobs run at once; counts show them active and the rest waiting', async () => {
      const queue = open(queueName('concurrency'), { concurrency: 2 });
      let inFlight = 0;
      let most = 0;
      const gates: (() => void)[] = [];
      queue.work(async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((resolve) => gates.push(resolve));
        inFlight--;
      });
      for (let i = 0; i < 5; i++) await queue.add(`c${i}`, { n: i });
      await waitUntil(() => gates.length === 2, 'two jobs to start', 10_000);
      await Bun.sleep(150);
      expect(gates.length).toBe(2);
      expect(await queue.counts()).toEqual({ waiting: 3, active: 2, delayed: 0 });
      while (queue.outcomes().completed < 5) {
        gates.shift()?.();
        await Bun.sleep(20);
      }
      expect(most).toBe(2);
      expect(queue.outcomes().completed).toBe(5);
    });

    test('error: a failing run is retried with a doubling backoff, then failed for good', async () => {
      const queue = open(queueName('retry'), { attempts: 3, backoffMs: 100 });
      const runs: { attempt: number; at: number }[] = [];
      queue.work(async (job) => {
        runs.push({ attempt: job.attempt, at: Date.now() });
        throw new Error('boom');
      });
      await queue.add('failing', { n: 1 });
      await waitUntil(() => queue.outcomes().failed === 1, 'the job to fail for good', 10_000);
      expect(runs.map((run) => run.attempt)).toEqual([1, 2, 3]);
      expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(90);
      expect(runs[2]!.at - runs[1]!.at).toBeGreaterThanOrEqual(190);
      expect(queue.outcomes()).toEqual({ completed: 0, failed: 1, retried: 2, released: 0 });
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
    });

    test('happy: a run that fails once and then succeeds completes on its second attempt', async () => {
      const queue = open(queueName('retry-ok'), { attempts: 3, backoffMs: 20 });
      queue.work(async (job) => {
        if (job.attempt === 1) throw new Error('first time fails');
      });
      await queue.add('flaky', { n: 1 });
      await waitUntil(() => queue.outcomes().completed === 1, 'the retry to complete', 10_000);
      expect(queue.outcomes()).toEqual({ completed: 1, failed: 0, retried: 1, released: 0 });
    });

    test('happy: close lets a running job finish within the grace period', async () => {
      const queue = open(queueName('grace'));
      let started = false;
      let finished = false;
      queue.work(async () => {
        started = true;
        await Bun.sleep(200);
        finished = true;
      });
      await queue.add('short', { n: 1 });
      await waitUntil(() => started, 'the job to run', 10_000);
      await queue.close(5000);
      expect(finished).toBe(true);
      expect(queue.outcomes()).toMatchObject({ completed: 1, released: 0 });
      expect(queue.working).toBe(false);
    });

    test('happy: past the grace period close aborts the job and lets it go, unfinished and not failed', async () => {
      const jobName = queueName('release');
      const queue = open(jobName);
      let started = false;
      let aborted = false;
      queue.work(async (job: QueuedJob<Data>) => {
        started = true;
        await new Promise<void>((resolve) => job.signal.addEventListener('abort', () => resolve()));
        aborted = true;
        throw new Error('stopped');
      });
      await queue.add('long', { n: 7 });
      await waitUntil(() => started, 'the job to run', 10_000);
      const startedClosing = Date.now();
      await queue.close(100);
      expect(Date.now() - startedClosing).toBeLessThan(5000);
      expect(aborted).toBe(true);
      expect(queue.outcomes()).toEqual({ completed: 0, failed: 0, retried: 0, released: 1 });
      if (!backend.shared) return;
      // Another instance takes it at once, as attempt 1 (a run let go is not a failed one).
      const other = open(jobName);
      const taken: { n: number; attempt: number }[] = [];
      other.work(async (job) => {
        taken.push({ n: job.data.n, attempt: job.attempt });
      });
      await waitUntil(() => other.outcomes().completed === 1, 'the other instance to run the job', 10_000);
      expect(taken).toEqual([{ n: 7, attempt: 1 }]);
    });

    if (backend.shared) {
      test('happy: jobs added on one instance run on another', async () => {
        const jobName = queueName('shared');
        const producer = open(jobName);
        const consumer = open(jobName);
        const seen: number[] = [];
        consumer.work(async (job) => {
          seen.push(job.data.n);
        });
        await producer.add('from-a', { n: 42 });
        await waitUntil(() => seen.length === 1, 'the job to run on the other instance', 10_000);
        expect(seen).toEqual([42]);
        expect(producer.outcomes().completed).toBe(0);
      });
    }
  });
}
