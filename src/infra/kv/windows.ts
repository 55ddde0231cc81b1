import type { LimitWindow } from './types.ts';

/**
 * Checks the arguments of consumeWindows / peekWindows before either store runs them, so both
 * refuse the same mistakes: a repeated key would be checked once but charged twice, and a TTL or
 * charge that is not a positive whole number cannot be stored by Redis.
 */
export function checkWindows(windows: LimitWindow[], by: number): void {
  if (!Number.isSafeInteger(by) || by < 1) throw new Error(`by must be a positive integer, not ${by}`);
  const keys = new Set<string>();
  for (const { key, limit, ttlMs } of windows) {
    if (keys.has(key)) throw new Error(`window key ${key} is given twice`);
    keys.add(key);
    if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`window ${key}: limit must be a non-negative integer, not ${limit}`);
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new Error(`window ${key}: ttlMs must be a positive integer, not ${ttlMs}`);
  }
}
