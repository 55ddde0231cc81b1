import { type Job, Queue, WaitingError, Worker } from 'bullmq';
import Redis from 'ioredis';
import { KvUnavailableError } from '../kv/errors.ts';
import { watchConnection } from '../kv/redis.ts';
import type { Logger } from '../log/index.ts';
import type { JobHandler, JobOutcomes, JobQueue, QueueCounts, QueueOptions, Queues } from './types.ts';

/** How long adding a job or counting waits for Redis before the caller is told it is away. */
const commandTimeoutMs = 5000;
const lostStates = new Set(['reconnecting', 'close', 'end']);

export type BullQueuesOptions = {
  /** REDIS_KEY_PREFIX: the queues' keys are `<prefix>queue:<name>:…`, beside the KV's. */
  prefix: string;
  log: Logger;
};

/** Waits for `work` at most `ms` (closing while Redis is away must not hang a shutdown); its failure is ignored. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Rejects with KvUnavailableError when `work` takes longer than the timeout (Redis away: commands wait for it). */
async function withinTimeout<T>(operation: string, work: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KvUnavailableError(operation, 'Redis did not answer in time')), commandTimeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Queues on Redis through BullMQ. Each queue has its own connections (BullMQ's workers block on
 * theirs, and it requires `maxRetriesPerRequest: null`), under the KV's key prefix so a
 * deployment's (or a test's) prefix isolates its jobs too. Finished jobs are removed: the
 * caller's records say how a job ended, and its id may be added again.
 */
export function createBullQueues(url: string, { prefix, log }: BullQueuesOptions): Queues {
  const opened: JobQueue<unknown>[] = [];
  const bullPrefix = `${prefix}queue`;

  const connect = (name: string) => {
    const connection = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
    watchConnection(connection, name, url, log);
    return connection;
  };

  function open<T>(name: string, options: QueueOptions): JobQueue<T> {
    const producer = connect(`queue ${name}`);
    const queue = new Queue(name, {
      connection: producer,
      prefix: bullPrefix,
      defaultJobOptions: {
        attempts: Math.max(1, options.attempts),
        backoff: { type: 'exponential', delay: options.backoffMs },
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
    queue.on('error', () => {
      // Logged once per outage by watchConnection.
    });
    const outcomes: JobOutcomes = { completed: 0, failed: 0, retried: 0, released: 0 };
    const controllers = new Map<string, AbortController>();
    const handlers = new Set<Promise<unknown>>();
    let worker: Worker | undefined;
    let workerConnection: Redis | undefined;
    let closing = false;
    let closed: Promise<void> | undefined;

    const process = async (job: Job, token: string | undefined, handler: JobHandler<T>) => {
      const id = job.id!;
      // Taken by a fetch already under way when the worker paused to close: straight back.
      if (closing) return release(job, token);
      const controller = new AbortController();
      controllers.set(id, controller);
      const run = handler({
        id,
        data: job.data as T,
        attempt: job.attemptsMade + 1,
        maxAttempts: job.opts.attempts ?? 1,
        signal: controller.signal,
      });
      handlers.add(run);
      try {
        await run;
      } catch (error) {
        // Counted as failed or retried by the worker's `failed` event, once BullMQ has moved it.
        if (!controller.signal.aborted) throw error;
      } finally {
        controllers.delete(id);
        handlers.delete(run);
      }
      if (!controller.signal.aborted) return;
      outcomes.released++;
      return release(job, token);
    };
    /** Lets a job go unfinished: straight back to waiting, for whichever instance takes it next. */
    const release = async (job: Job, token: string | undefined): Promise<never> => {
      await job
        .moveToWait(token)
        .catch((error) => log.warn('could not hand a job back to the queue', { queue: name, error: String(error) }));
      throw new WaitingError();
    };

    const self: JobQueue<T> = {
      kind: 'bullmq',
      name,
      async add(id, data) {
        // A connection known to be lost fails at once; one still opening is waited for (within the timeout).
        if (lostStates.has(producer.status)) throw new KvUnavailableError('queue add', `redis is ${producer.status}`);
        await withinTimeout('queue add', queue.add(name, data, { jobId: id }));
      },
      work(handler) {
        if (worker || closing) return;
        workerConnection = connect(`queue ${name} worker`);
        worker = new Worker(name, (job, token) => process(job, token, handler), {
          connection: workerConnection,
          prefix: bullPrefix,
          concurrency: options.concurrency,
          lockDuration: options.stallMs,
          stalledInterval: options.stallMs,
          // A job is only failed for good by its own attempts, however often its instances die.
          maxStalledCount: 1000,
          // Wakes every so often when idle, so a paused or closing worker is not stuck in a long block.
          drainDelay: 1,
        });
        worker.on('completed', () => {
          outcomes.completed++;
        });
        worker.on('failed', (job: Job | undefined, error: Error) => {
          if (error instanceof WaitingError || error.name === 'WaitingError') return;
          if (job && job.attemptsMade < (job.opts.attempts ?? 1)) outcomes.retried++;
          else outcomes.failed++;
        });
        worker.on('error', () => {
          // Connection errors are logged once per outage by watchConnection.
        });
        // Another instance may take the job over: this one stops working on it.
        worker.on('lockRenewalFailed', (ids: string[]) => {
          for (const id of ids) controllers.get(id)?.abort();
        });
        worker.on('stalled', (jobId: string) => log.info('a queued job was taken over from a stopped instance', { queue: name, jobId }));
      },
      get working() {
        return worker !== undefined && !closing;
      },
      async counts(): Promise<QueueCounts> {
        const counts = await withinTimeout('queue counts', queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed'));
        return { waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0), active: counts.active ?? 0, delayed: counts.delayed ?? 0 };
      },
      outcomes: () => ({ ...outcomes }),
      close(graceMs = 0) {
        closed ??= (async () => {
          closing = true;
          if (worker) {
            await settleWithin(worker.pause(true), commandTimeoutMs);
            let timer: Timer | undefined;
            await Promise.race([
              Promise.allSettled([...handlers]),
              new Promise((resolve) => {
                timer = setTimeout(resolve, graceMs);
              }),
            ]);
            clearTimeout(timer);
            for (const controller of controllers.values()) controller.abort();
            await Promise.allSettled([...handlers]);
            await settleWithin(worker.close(), commandTimeoutMs);
          }
          await settleWithin(queue.close(), commandTimeoutMs);
          producer.disconnect();
          workerConnection?.disconnect();
        })();
        return closed;
      },
    };
    opened.push(self as JobQueue<unknown>);
    return self;
  }

  return {
    kind: 'bullmq',
    open,
    async close() {
      await Promise.all(opened.map((queue) => queue.close()));
    },
  };
}
