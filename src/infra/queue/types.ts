export type QueueKind = 'bullmq' | 'memory';

/** One job as its handler sees it. */
export type QueuedJob<T> = {
  readonly id: string;
  readonly data: T;
  /** 1 on the first run; one more after each failed run (a run lost with a dead instance does not count). */
  readonly attempt: number;
  /** Runs allowed before the job is failed for good (`attempts` of the queue). */
  readonly maxAttempts: number;
  /**
   * Aborted when this instance lets the job go (shutdown, or its lock on the job was lost): the
   * handler should stop soon; whatever it then returns or throws, the job is not completed or
   * failed but left for another instance (or the next start) to run again.
   */
  readonly signal: AbortSignal;
};

/** Does the job's work; a throw is a failed run (retried with backoff while attempts remain). */
export type JobHandler<T> = (job: QueuedJob<T>) => Promise<void>;

/** Jobs of one queue by state, across every instance (BullMQ) or in this process (memory). */
export type QueueCounts = { waiting: number; active: number; delayed: number };

/** Runs this instance finished since it started, by outcome (`retried`: failed with attempts left; `released`: let go unfinished). */
export type JobOutcomes = { completed: number; failed: number; retried: number; released: number };

export type QueueOptions = {
  /** Jobs this instance runs at once. */
  concurrency: number;
  /** Runs a job gets before it is failed for good (at least 1). */
  attempts: number;
  /** Wait before the first retry of a failed run, doubled for each further one, in ms. */
  backoffMs: number;
  /**
   * BullMQ: the lock a worker holds on a job it runs, renewed at half this; a job whose lock
   * lapsed (its instance died) is taken over by another instance within about this long again.
   * The in-process queue ignores it (its jobs die with the process).
   */
  stallMs: number;
};

/**
 * A named job queue: BullMQ on Redis (any instance adds, any instance runs, a job left by a dead
 * instance is taken over) or an in-process queue with the same behaviour on one instance
 * (tests/queue runs one suite on both). Job ids are the caller's: adding an id that is waiting,
 * delayed or running adds nothing; once it finished, the same id may be added again.
 */
export type JobQueue<T> = {
  readonly kind: QueueKind;
  readonly name: string;
  /** Enqueues a job; rejects with KvUnavailableError while Redis is unreachable. */
  add(id: string, data: T): Promise<void>;
  /** Starts running jobs on this instance with `handler` (once; later calls do nothing). */
  work(handler: JobHandler<T>): void;
  /** Whether this instance runs jobs (work was called and close was not). */
  readonly working: boolean;
  counts(): Promise<QueueCounts>;
  outcomes(): JobOutcomes;
  /**
   * Stops taking jobs, gives the running ones up to `graceMs` to finish, then aborts their
   * signals and lets them go (see QueuedJob.signal); resolves once every handler has returned.
   */
  close(graceMs?: number): Promise<void>;
};

/** Opens named queues of one kind; closing it closes every queue it opened. */
export type Queues = {
  readonly kind: QueueKind;
  open<T>(name: string, options: QueueOptions): JobQueue<T>;
  close(): Promise<void>;
};
