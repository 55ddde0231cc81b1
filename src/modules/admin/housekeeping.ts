import type { KeyValueStore } from '../../infra/kv/index.ts';
import type { Logger } from '../../infra/log/index.ts';

/** How many rows of each kind one run removed. */
export type RemovedCounts = Record<string, number>;

/** One job of the housekeeping: removes what can never be used again and says how many of each kind. */
export type HousekeepingTask = { name: string; run: () => Promise<RemovedCounts> };

export type HousekeepingOptions = {
  kv: KeyValueStore;
  log: Logger;
  /** One run of each task per period of this length, across every instance sharing the KV. */
  intervalMs: number;
  /** Who holds a task's lock for a period (written as the lock's value, for whoever looks). */
  instanceId: string;
  tasks: HousekeepingTask[];
};

/**
 * The one scheduler of periodic clean-ups, safe with many instances: every instance ticks once a
 * period (and once at start), and a task runs only on the instance that takes its lock for the
 * period, `housekeeping:<task>:<period number>` set only if absent with the period as its TTL, so
 * each task runs once per period cluster-wide. A failing task (or KV) is logged and tried again
 * next period. What lives in KV with a TTL (idempotency records, stream buffers, rate-limit
 * windows, caches) expires by itself and needs no task.
 */
export function createHousekeeping({ kv, log, intervalMs, instanceId, tasks }: HousekeepingOptions) {
  let timer: Timer | undefined;
  let ticking: Promise<void> | undefined;

  /** Runs a task and logs what it removed (`period` when the scheduler ran it, absent when an admin did). */
  async function runTask(task: HousekeepingTask, period?: number): Promise<RemovedCounts> {
    const started = performance.now();
    const removed = await task.run();
    log.info('housekeeping task ran', { task: task.name, period, instanceId, removed, ms: Math.round(performance.now() - started) });
    return removed;
  }

  /** One tick: each task whose lock for the current period this instance takes. */
  async function tick(): Promise<void> {
    const period = Math.floor(Date.now() / intervalMs);
    for (const task of tasks) {
      try {
        const mine = await kv.set(`housekeeping:${task.name}:${period}`, instanceId, { onlyIfAbsent: true, ttlMs: intervalMs });
        if (mine) await runTask(task, period);
      } catch (error) {
        log.warn('housekeeping task failed; tried again next period', { task: task.name, error: (error as Error).message });
      }
    }
  }

  const startTick = () => {
    ticking ??= tick().finally(() => {
      ticking = undefined;
    });
  };

  return {
    /** Every task at once on this instance, lock or not (an admin asked): the counts of all, merged. */
    async runNow(): Promise<RemovedCounts> {
      const merged: RemovedCounts = {};
      for (const task of tasks) Object.assign(merged, await runTask(task));
      return merged;
    },
    /** Starts ticking (the server does; tests only when they ask). Idempotent. */
    start(): void {
      if (timer) return;
      timer = setInterval(startTick, intervalMs);
      startTick();
    },
    /** Stops ticking and waits for a run under way. */
    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await ticking;
    },
  };
}

export type Housekeeping = ReturnType<typeof createHousekeeping>;
