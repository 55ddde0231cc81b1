import type { Config } from '../../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createBullQueues } from './bullmq.ts';
import { createMemoryQueues } from './memory.ts';
import type { Queues } from './types.ts';

export type { JobHandler, JobOutcomes, JobQueue, QueueCounts, QueuedJob, QueueKind, QueueOptions, Queues } from './types.ts';

/** BullMQ on Redis when REDIS_URL is set (jobs shared by every instance), otherwise an in-process queue. Connects only when a queue is opened. */
export function openQueues(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix'>, log: Logger): Queues {
  if (!config.redisUrl) return createMemoryQueues();
  return createBullQueues(config.redisUrl, { prefix: config.redisKeyPrefix, log });
}
