export type KvKind = 'redis' | 'memory';

export type StreamEntry = { id: string; fields: Record<string, string> };

export type RateLimitHit = {
  /** Whether this hit is within the limit. */
  allowed: boolean;
  /** Hits counted in the current window, this one included. */
  count: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
};

export type Unsubscribe = () => Promise<void>;

/**
 * What lives in Redis when REDIS_URL is set, and in process memory otherwise: the same
 * behaviour either way (tests/kv runs one suite on both). Keys and channels are namespaced by
 * the implementation's prefix; callers pass bare names.
 */
export type KeyValueStore = {
  readonly kind: KvKind;
  get(key: string): Promise<string | null>;
  /** Returns false only when `onlyIfAbsent` is set and the key already exists. */
  set(key: string, value: string, options?: { ttlMs?: number; onlyIfAbsent?: boolean }): Promise<boolean>;
  /** Returns how many of the keys existed. */
  del(...keys: string[]): Promise<number>;
  exists(key: string): Promise<boolean>;
  /** Adds to a counter; the TTL is set when the counter is created. */
  incr(key: string, options?: { by?: number; ttlMs?: number }): Promise<number>;
  /** One atomic fixed-window hit: count it, then say whether it is within `limit`. */
  hitRateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitHit>;
  /** Reads a fixed window without counting a hit. */
  peekRateLimit(key: string, limit: number, windowMs: number): Promise<RateLimitHit>;
  /** Deletes keys matching a glob pattern (`*`, `?`); returns how many. */
  deleteMatching(pattern: string): Promise<number>;
  countMatching(pattern: string): Promise<number>;

  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, listener: (message: string) => void): Promise<Unsubscribe>;

  /** Appends to an append-only buffer; ids increase. `ttlMs` (re)sets the buffer's expiry. */
  streamAppend(key: string, fields: Record<string, string>, options?: { ttlMs?: number }): Promise<string>;
  /** Entries strictly after `afterId` (from the start when omitted), oldest first. */
  streamRead(key: string, options?: { afterId?: string }): Promise<StreamEntry[]>;
  streamLength(key: string): Promise<number>;

  /** `ok`, or `degraded` while the backing service is unreachable. */
  status(): 'ok' | 'degraded';
  ping(): Promise<number>;
  close(): Promise<void>;
};
