import type { Config } from '../../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createMemoryStore } from './memory.ts';
import { createRedisStore } from './redis.ts';
import type { KeyValueStore } from './types.ts';

export { isKvUnavailable, KvUnavailableError } from './errors.ts';
export type { KeyValueStore, KvKind, LimitWindow, RateLimitHit, StreamEntry, Unsubscribe, WindowsVerdict } from './types.ts';

/** Redis when REDIS_URL is set, otherwise this process's memory (one instance only). */
export async function openKeyValueStore(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix'>, log: Logger): Promise<KeyValueStore> {
  if (!config.redisUrl) return createMemoryStore();
  return createRedisStore(config.redisUrl, { prefix: config.redisKeyPrefix, log });
}
