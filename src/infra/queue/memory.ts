import type { JobHandler, JobOutcomes, JobQueue, QueueCounts, QueueOptions, Queues } from './types.ts';

type Entry<T> = { id: string; data: T; attempt: number };
type Running = { controller: AbortController; done: Promise<void> };

/** One queue in this process's memory: the same contract as BullMQ's, for a single instance. */
export function createMemoryQueue<T>(name: string, options: QueueOptions): JobQueue<T> {
  const waiting: Entry<T>[] = [];
  const delayed = new Map<string, { entry: Entry<T>; timer: Timer }>();
  const running = new Map<string, Running>();
  const outcomes: JobOutcomes = { completed: 0, failed: 0, retried: 0, released: 0 };
  let handler: JobHandler<T> | undefined;
  let closed = false;

  const has = (id: string) => running.has(id) || delayed.has(id) || waiting.some((entry) => entry.id === id);

  const run = (entry: Entry<T>) => {
    const controller = new AbortController();
    const done = (async () => {
      let ok = false;
      try {
        await handler!({
          id: entry.id,
          data: entry.data,
          attempt: entry.attempt,
          maxAttempts: options.attempts,
          signal: controller.signal,
        });
        ok = true;
      } catch {
        // A failed run: retried below while attempts remain (the handler logs its own errors).
      }
      running.delete(entry.id);
      if (controller.signal.aborted) outcomes.released++;
      else if (ok) outcomes.completed++;
      else if (entry.attempt < options.attempts && !closed) {
        outcomes.retried++;
        const next = { ...entry, attempt: entry.attempt + 1 };
        const wait = options.backoffMs * 2 ** (entry.attempt - 1);
        const timer = setTimeout(() => {
          delayed.delete(entry.id);
          waiting.push(next);
          pump();
        }, wait);
        delayed.set(entry.id, { entry: next, timer });
      } else outcomes.failed++;
      pump();
    })();
    running.set(entry.id, { controller, done });
  };

  const pump = () => {
    if (!handler || closed) return;
    while (running.size < options.concurrency && waiting.length > 0) run(waiting.shift()!);
  };

  return {
    kind: 'memory',
    name,
    async add(id, data) {
      if (closed || has(id)) return;
      waiting.push({ id, data, attempt: 1 });
      pump();
    },
    work(next) {
      if (handler || closed) return;
      handler = next;
      pump();
    },
    get working() {
      return handler !== undefined && !closed;
    },
    async counts(): Promise<QueueCounts> {
      return { waiting: waiting.length, active: running.size, delayed: delayed.size };
    },
    outcomes: () => ({ ...outcomes }),
    async close(graceMs = 0) {
      closed = true;
      for (const { timer } of delayed.values()) clearTimeout(timer);
      const all = () => Promise.allSettled([...running.values()].map((job) => job.done));
      let timer: Timer | undefined;
      await Promise.race([all(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      for (const job of running.values()) job.controller.abort();
      await all();
    },
  };
}

/** In-process queues: jobs live and run in this process only (no REDIS_URL). */
export function createMemoryQueues(): Queues {
  const opened: JobQueue<unknown>[] = [];
  return {
    kind: 'memory',
    open<T>(name: string, options: QueueOptions) {
      const queue = createMemoryQueue<T>(name, options);
      opened.push(queue as JobQueue<unknown>);
      return queue;
    },
    async close() {
      await Promise.all(opened.map((queue) => queue.close()));
    },
  };
}
