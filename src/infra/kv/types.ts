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

/** One fixed window of a multi-window limit: its counter's key, how many calls it admits, and how long it lasts once started. */
export type LimitWindow = { key: string; limit: number; ttlMs: number };

/** What `consumeWindows` / `peekWindows` answer: whether the call is (would be) admitted, and every window as it now stands. */
export type WindowsVerdict = {
  /** Admitted: every window had room, and all were charged. Refused: none was charged. */
  admitted: boolean;
  /**
   * Per window, in the order given: `allowed` is whether that window had room for this call (the
   * windows without room are those that refused it), `count` what the window has counted (this
   * call included only when admitted), `remaining` what it still admits, `resetMs` until it ends.
   */
  windows: RateLimitHit[];
};

/** What `acquireLease` answers: whether `member` holds a lease now, and how many live leases the key has. */
export type LeaseVerdict = { acquired: boolean; held: number };

export type Unsubscribe = () => Promise<void>;

/**
 * What lives in Redis when REDIS_URL is set, and in process memory otherwise: the same
 * behaviour either way (tests/kv runs one suite on both). Keys and channels are namespaced by
 * the implementation's prefix; callers pass bare names. While the backing service is unreachable
 * every operation rejects at once with a KvUnavailableError (errors.ts), which the error handler
 * answers 503 `unavailable`; other failures keep their own error.
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
  /**
   * Charges one call against several fixed windows at once, all or none, atomically (one Lua
   * script on Redis, so across instances): if every window has room for `by` (default 1) more,
   * all are incremented (a window's TTL starts with its first charge); if any window is full,
   * nothing is charged and no counter is created. Keys must be distinct.
   */
  consumeWindows(windows: LimitWindow[], options?: { by?: number }): Promise<WindowsVerdict>;
  /** The same check as consumeWindows (room for `by`, default 1, in every window), charging nothing. */
  peekWindows(windows: LimitWindow[], options?: { by?: number }): Promise<WindowsVerdict>;
  /**
   * A counting semaphore whose places expire: `member` takes one of `limit` places under `key`
   * for `ttlMs`, unless `limit` live leases are held already (0 = no limit). A holder that dies
   * stops renewing and its place frees itself when the lease expires. Taking a place already held
   * renews it. Atomic across instances (Redis: one script over a sorted set scored by expiry, on
   * Redis's clock; the "counting semaphore" of Redis in Action §6.3).
   */
  acquireLease(key: string, member: string, options: { limit: number; ttlMs: number }): Promise<LeaseVerdict>;
  /** Extends `member`'s lease to `ttlMs` from now; false when it had expired or was released. */
  renewLease(key: string, member: string, ttlMs: number): Promise<boolean>;
  /** Frees `member`'s place (nothing when it holds none). */
  releaseLease(key: string, member: string): Promise<void>;
  /** Live leases under `key`. */
  countLeases(key: string): Promise<number>;
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
