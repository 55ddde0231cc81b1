import Redis from 'ioredis';
import type { Logger } from '../log/index.ts';
import { safeUrl } from '../log/index.ts';
import { KvUnavailableError } from './errors.ts';
import type { KeyValueStore, LimitWindow, StreamEntry, WindowsVerdict } from './types.ts';
import { checkWindows } from './windows.ts';

// The TTL is set only when this call creates the counter (as in the memory store).
const incrScript = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value`;

// Several fixed windows checked and charged in one script, so no other call (on any instance)
// runs between the check and the charge: either every window has room for ARGV[1] more and all
// are charged, or none is. ARGV[2] is 1 to charge, 0 to only look; then each window's limit and
// TTL (ms), in the order of KEYS. A window's TTL starts with its first charge, and a counter that
// has none (one made by incr) gets one. Answers {admitted, counts, ttls, allowed}.
const windowsScript = `
local by = tonumber(ARGV[1])
local counts, ttls, allowed = {}, {}, {}
local admitted = 1
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  local count = 0
  if raw then
    count = tonumber(raw)
    if not count then return redis.error_reply('ERR ' .. key .. ' does not hold a counter') end
  end
  counts[i] = count
  ttls[i] = redis.call('PTTL', key)
  if count + by <= tonumber(ARGV[1 + 2 * i]) then
    allowed[i] = 1
  else
    allowed[i] = 0
    admitted = 0
  end
end
if admitted == 1 and ARGV[2] == '1' then
  for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCRBY', key, by)
    if ttls[i] < 0 then
      redis.call('PEXPIRE', key, ARGV[2 + 2 * i])
      ttls[i] = tonumber(ARGV[2 + 2 * i])
    end
  end
end
return {admitted, counts, ttls, allowed}`;

// Leases: a sorted set scored by expiry on Redis's own clock (instances' clocks may differ).
// Every script drops expired members first. The key expires with its longest lease.
const leaseNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)`;
// ARGV: member, limit (0 = none), ttl ms. Answers {acquired, held}.
const acquireLeaseScript = `${leaseNow}
local held = redis.call('ZCARD', KEYS[1])
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not mine and tonumber(ARGV[2]) > 0 and held >= tonumber(ARGV[2]) then return {0, held} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if mine then return {1, held} end
return {1, held + 1}`;
// ARGV: member, ttl ms. Answers 1 when renewed, 0 when the lease was gone.
const renewLeaseScript = `${leaseNow}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;
const countLeasesScript = `${leaseNow}
return redis.call('ZCARD', KEYS[1])`;

type ScriptedRedis = Redis & {
  parleyAcquireLease(key: string, member: string, limit: number, ttlMs: number): Promise<[number, number]>;
  parleyRenewLease(key: string, member: string, ttlMs: number): Promise<number>;
  parleyCountLeases(key: string): Promise<number>;
  /** numberOfKeys, the keys, then by, charge (1/0) and each window's limit and TTL. */
  parleyWindows(...args: (string | number)[]): Promise<[number, number[], number[], number[]]>;
  parleyIncr(key: string, by: number, ttlMs: number): Promise<number>;
};

export type RedisStoreOptions = {
  prefix: string;
  log: Logger;
  connectTimeoutMs?: number;
  /** Reconnect attempt n waits n × `retryStepMs` (default 200), at most `maxRetryDelayMs` (default 2000). */
  retryStepMs?: number;
  maxRetryDelayMs?: number;
};

// Replies by which Redis itself says it cannot serve for now (loading its data, a busy script,
// a failover in progress): an outage like a lost connection, unlike WRONGTYPE or a script's error.
const unavailableReply = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/**
 * Whether a failed command is an outage: any error but a Redis reply (the connection closed, not
 * writable, the retry budget spent, a socket error) while `connection` is not ready or the error
 * names the connection, and the replies above.
 */
function isOutage(error: unknown, connection: Redis): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return unavailableReply.test(error.message);
  if (connection.status !== 'ready') return true;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Socket timeout/i.test(error.message)
  );
}

/**
 * Redis through ioredis. Commands fail fast while Redis is unreachable (no offline queue), so a
 * request gets an error it can handle instead of hanging: a KvUnavailableError (see errors.ts),
 * which the error handler answers 503. ioredis reconnects by itself and re-subscribes pub/sub
 * channels, and status() reports `degraded` meanwhile.
 */
export async function createRedisStore(
  url: string,
  { prefix, log, connectTimeoutMs = 3000, retryStepMs = 200, maxRetryDelayMs = 2000 }: RedisStoreOptions,
): Promise<KeyValueStore> {
  const connectionOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: connectTimeoutMs,
    retryStrategy: (attempt: number) => Math.min(attempt * retryStepMs, maxRetryDelayMs),
  };
  const client = new Redis(url, connectionOptions) as ScriptedRedis;
  client.defineCommand('parleyIncr', { numberOfKeys: 1, lua: incrScript });
  client.defineCommand('parleyAcquireLease', { numberOfKeys: 1, lua: acquireLeaseScript });
  client.defineCommand('parleyRenewLease', { numberOfKeys: 1, lua: renewLeaseScript });
  client.defineCommand('parleyCountLeases', { numberOfKeys: 1, lua: countLeasesScript });
  // No numberOfKeys: a call passes how many windows it checks.
  client.defineCommand('parleyWindows', { lua: windowsScript });
  const subscriber = client.duplicate();
  const listeners = new Map<string, Set<(message: string) => void>>();
  const key = (name: string) => prefix + name;

  watchConnection(client, 'kv', url, log);
  watchConnection(subscriber, 'kv pub/sub', url, log);
  subscriber.on('message', (channel: string, message: string) => {
    const set = listeners.get(channel);
    if (set) for (const listener of [...set]) listener(message);
  });

  const connect = async (connection: Redis) => {
    try {
      await connection.connect();
    } catch {
      // Already logged by watchConnection; ioredis keeps retrying in the background.
    }
  };
  await Promise.all([connect(client), connect(subscriber)]);
  if (client.status !== 'ready') log.warn('kv starting degraded: redis unreachable, retrying', { url: safeUrl(url) });

  /** Runs one call on `connection`; an outage becomes a KvUnavailableError, anything else stays as thrown. */
  const command = async <T>(operation: string, run: () => Promise<T>, connection: Redis = client): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw isOutage(error, connection) ? new KvUnavailableError(operation, error) : error;
    }
  };

  const scan = async (pattern: string, onKeys: (keys: string[]) => Promise<void>) => {
    let cursor = '0';
    do {
      const [next, keys] = await command('scan', () => client.scan(cursor, 'MATCH', key(pattern), 'COUNT', 500));
      cursor = next;
      if (keys.length) await onKeys(keys);
    } while (cursor !== '0');
  };
  const windowsVerdict = async (windows: LimitWindow[], by: number, charge: boolean): Promise<WindowsVerdict> => {
    checkWindows(windows, by);
    if (windows.length === 0) return { admitted: true, windows: [] };
    const [admitted, counts, ttls, allowed] = await command(charge ? 'consumeWindows' : 'peekWindows', () =>
      client.parleyWindows(
        windows.length,
        ...windows.map((window) => key(window.key)),
        by,
        charge ? 1 : 0,
        ...windows.flatMap((window) => [window.limit, window.ttlMs]),
      ),
    );
    return {
      admitted: admitted === 1,
      windows: windows.map((window, i) => {
        const count = counts[i]!;
        const ttl = ttls[i]!;
        return { allowed: allowed[i] === 1, count, remaining: Math.max(0, window.limit - count), resetMs: ttl > 0 ? ttl : window.ttlMs };
      }),
    };
  };

  return {
    kind: 'redis',
    get: (name) => command('get', () => client.get(key(name))),
    async set(name, value, { ttlMs, onlyIfAbsent } = {}) {
      const result = await command('set', () =>
        ttlMs
          ? onlyIfAbsent
            ? client.set(key(name), value, 'PX', ttlMs, 'NX')
            : client.set(key(name), value, 'PX', ttlMs)
          : onlyIfAbsent
            ? client.set(key(name), value, 'NX')
            : client.set(key(name), value),
      );
      return result === 'OK';
    },
    del: (...names) => (names.length ? command('del', () => client.del(...names.map(key))) : Promise.resolve(0)),
    async exists(name) {
      return (await command('exists', () => client.exists(key(name)))) === 1;
    },
    incr: (name, { by = 1, ttlMs = 0 } = {}) => command('incr', () => client.parleyIncr(key(name), by, ttlMs)),
    consumeWindows: (windows, { by = 1 } = {}) => windowsVerdict(windows, by, true),
    peekWindows: (windows, { by = 1 } = {}) => windowsVerdict(windows, by, false),
    async acquireLease(name, member, { limit, ttlMs }) {
      const [acquired, held] = await command('acquireLease', () => client.parleyAcquireLease(key(name), member, limit, ttlMs));
      return { acquired: acquired === 1, held };
    },
    async renewLease(name, member, ttlMs) {
      return (await command('renewLease', () => client.parleyRenewLease(key(name), member, ttlMs))) === 1;
    },
    async releaseLease(name, member) {
      await command('releaseLease', () => client.zrem(key(name), member));
    },
    countLeases: (name) => command('countLeases', () => client.parleyCountLeases(key(name))),
    async deleteMatching(pattern) {
      let removed = 0;
      await scan(pattern, async (keys) => {
        removed += await command('deleteMatching', () => client.unlink(...keys));
      });
      return removed;
    },
    async countMatching(pattern) {
      let found = 0;
      await scan(pattern, async (keys) => {
        found += keys.length;
      });
      return found;
    },
    async publish(channel, message) {
      await command('publish', () => client.publish(key(channel), message));
    },
    async subscribe(channel, listener) {
      const name = key(channel);
      let set = listeners.get(name);
      const entry = (message: string) => listener(message);
      if (!set) {
        listeners.set(name, (set = new Set([entry])));
        try {
          await command('subscribe', () => subscriber.subscribe(name), subscriber);
        } catch (error) {
          set.delete(entry);
          if (set.size === 0) listeners.delete(name);
          throw error;
        }
      } else set.add(entry);
      return async () => {
        const current = listeners.get(name);
        if (!current?.delete(entry) || current.size > 0) return;
        listeners.delete(name);
        await subscriber.unsubscribe(name).catch(() => undefined);
      };
    },
    async streamAppend(name, fields, { ttlMs } = {}) {
      const multi = client.multi();
      multi.xadd(key(name), '*', ...Object.entries(fields).flat());
      if (ttlMs) multi.pexpire(key(name), ttlMs);
      const results = await command('streamAppend', () => multi.exec());
      const [error, id] = results?.[0] ?? [new Error('stream append was not executed'), null];
      if (error) throw isOutage(error, client) ? new KvUnavailableError('streamAppend', error) : error;
      return id as string;
    },
    async streamRead(name, { afterId } = {}) {
      const raw = await command('streamRead', () => client.xrange(key(name), afterId ? `(${afterId}` : '-', '+'));
      return raw.map(([id, flat]): StreamEntry => {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        return { id, fields };
      });
    },
    streamLength: (name) => command('streamLength', () => client.xlen(key(name))),
    status() {
      return client.status === 'ready' && subscriber.status === 'ready' ? 'ok' : 'degraded';
    },
    async ping() {
      const started = performance.now();
      await command('ping', () => client.ping());
      return performance.now() - started;
    },
    async close() {
      listeners.clear();
      await Promise.allSettled([client.quit(), subscriber.quit()]);
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

/** Logs a lost connection once (not at every retry) and its recovery. */
export function watchConnection(connection: Redis, name: string, url: string, log: Logger) {
  let lastError: string | undefined;
  connection.on('error', (error: Error) => {
    if (error.message === lastError) return;
    lastError = error.message;
    log.warn(`${name} connection error`, { url: safeUrl(url), error: error.message });
  });
  connection.on('ready', () => {
    if (lastError) log.info(`${name} reconnected`, { url: safeUrl(url) });
    lastError = undefined;
  });
}
