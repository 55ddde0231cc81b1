import { globToRegExp } from '../kv/glob.ts';
import type { KeyValueStore, Unsubscribe } from '../kv/index.ts';
import type { Logger } from '../log/index.ts';
import { createLru } from './lru.ts';
import type { Cache, CacheNamespace, CacheStats, LayerStats, NamespaceOptions } from './types.ts';

export type { Cache, CacheNamespace, CacheStats, LayerStats, NamespaceOptions, NamespaceStats } from './types.ts';

/** Every cached value lives under this KV prefix, so clearing the cache never touches sessions or streams. */
export const cachePrefix = 'cache:';
const channel = 'cache:invalidate';
/** How long a writer waits for its own notice to come back (then every instance has been sent it). */
const echoWaitMs = 250;
const defaultL1MaxEntries = 1000;

type Notice = { id: string; ns?: string; key?: string; prefix?: string; pattern?: string };

const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');
const rate = (hits: number, misses: number) => (hits + misses === 0 ? 0 : hits / (hits + misses));

type Space = {
  name: string;
  options: Required<NamespaceOptions>;
  l1: ReturnType<typeof createLru<string>>;
  /** Bumped by every invalidation that reaches this namespace: a load that saw it change stores nothing. */
  version: number;
  inflight: Map<string, Promise<string>>;
  counts: { l1Hits: number; l1Misses: number; l2Hits: number; l2Misses: number; loads: number; invalidations: number };
  handle: CacheNamespace<unknown>;
};

/**
 * The two-layer cache (types.ts). L1 holds JSON text per namespace in a capped LRU; L2 is the KV
 * under `cache:<namespace>:<key>`. A write invalidates: the local copy goes at once, the KV key
 * is deleted, a notice goes out on KV pub/sub (every instance drops its copy and forgets loads in
 * flight), and once the writer hears its own notice back the KV key is deleted again, in case an
 * instance stored an older value it had loaded before it heard the notice.
 */
export async function openCache(kv: KeyValueStore, log: Logger): Promise<Cache> {
  const spaces = new Map<string, Space>();
  const pending = new Map<string, () => void>();
  let unsubscribe: Unsubscribe | undefined;

  /** Applies a notice to this instance: L1 entries and loads in flight that it covers are forgotten. */
  const dropLocal = (notice: Notice) => {
    const pattern = notice.pattern === undefined ? undefined : globToRegExp(notice.pattern);
    for (const space of spaces.values()) {
      let match: ((key: string) => boolean) | undefined;
      if (pattern) match = (key) => pattern.test(`${space.name}:${key}`);
      else if (notice.ns !== space.name) continue;
      else if (notice.key !== undefined) match = (key) => key === notice.key;
      else if (notice.prefix !== undefined) match = (key) => key.startsWith(notice.prefix!);
      if (!match) continue;
      space.version++;
      space.l1.deleteWhere(match);
      for (const key of [...space.inflight.keys()]) if (match(key)) space.inflight.delete(key);
    }
  };

  try {
    unsubscribe = await kv.subscribe(channel, (message) => {
      let notice: Notice;
      try {
        notice = JSON.parse(message) as Notice;
      } catch {
        return;
      }
      dropLocal(notice);
      pending.get(notice.id)?.();
    });
  } catch (error) {
    // Without notices no instance could trust its L1: every read goes to the KV instead.
    log.warn('cache.subscribe_failed', { error: error instanceof Error ? error.message : String(error) });
  }
  const l1Enabled = () => unsubscribe !== undefined;

  /** Drops locally, runs `remove` on the KV, announces, waits for the echo, removes again. */
  const announce = async (notice: Omit<Notice, 'id'>, remove: () => Promise<number>): Promise<number> => {
    const full: Notice = { id: crypto.randomUUID(), ...notice };
    dropLocal(full);
    const removed = await remove();
    const echoed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, echoWaitMs);
      pending.set(full.id, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      await kv.publish(channel, JSON.stringify(full));
      if (l1Enabled()) await echoed;
    } finally {
      pending.delete(full.id);
    }
    await remove();
    return removed;
  };

  /**
   * A write is already committed when it invalidates: the KV being away must not fail it. This
   * instance's copy is gone; other instances' copies end with their L1 TTL, KV values with theirs.
   */
  const failed = (namespace: string) => (error: unknown) => {
    log.warn('cache.invalidate_failed', { namespace, error: error instanceof Error ? error.message : String(error) });
  };

  const l2Key = (space: string, key: string) => `${cachePrefix}${space}:${key}`;

  const createSpace = (name: string, options: NamespaceOptions): Space => {
    const space: Space = {
      name,
      options: { l1MaxEntries: defaultL1MaxEntries, ...options },
      l1: createLru<string>(options.l1MaxEntries ?? defaultL1MaxEntries),
      version: 0,
      inflight: new Map(),
      counts: { l1Hits: 0, l1Misses: 0, l2Hits: 0, l2Misses: 0, loads: 0, invalidations: 0 },
      handle: undefined as unknown as CacheNamespace<unknown>,
    };
    const { counts } = space;

    const fill = async (key: string, loader: () => Promise<unknown>): Promise<string> => {
      const seen = space.version;
      const storeLocal = (raw: string) => {
        if (l1Enabled() && space.version === seen) space.l1.set(key, raw, space.options.l1TtlMs);
      };
      // The KV being away is no reason to fail a read: the loader answers instead.
      const shared = await kv.get(l2Key(name, key)).catch(() => null);
      if (shared !== null) {
        counts.l2Hits++;
        storeLocal(shared);
        return shared;
      }
      counts.l2Misses++;
      counts.loads++;
      const raw = JSON.stringify(await loader()) ?? 'null';
      if (space.version === seen) {
        await kv.set(l2Key(name, key), raw, { ttlMs: space.options.l2TtlMs }).catch(() => undefined);
        // Invalidated while it was being stored: the value may be older than the write.
        if (space.version !== seen) await kv.del(l2Key(name, key)).catch(() => undefined);
      }
      storeLocal(raw);
      return raw;
    };

    space.handle = {
      name,
      async get(key, loader) {
        if (l1Enabled()) {
          const local = space.l1.get(key);
          if (local !== undefined) {
            counts.l1Hits++;
            return JSON.parse(local);
          }
          counts.l1Misses++;
        }
        let load = space.inflight.get(key);
        if (!load) {
          load = fill(key, loader);
          space.inflight.set(key, load);
          const settled = () => {
            if (space.inflight.get(key) === load) space.inflight.delete(key);
          };
          load.then(settled, settled);
        }
        return JSON.parse(await load);
      },
      async invalidate(key) {
        counts.invalidations++;
        await announce({ ns: name, key }, () => kv.del(l2Key(name, key))).catch(failed(name));
      },
      async invalidatePrefix(prefix) {
        counts.invalidations++;
        await announce({ ns: name, prefix }, () => kv.deleteMatching(`${cachePrefix}${escapeGlob(name)}:${escapeGlob(prefix)}*`)).catch(
          failed(name),
        );
      },
    };
    return space;
  };

  const layer = (hits: number, misses: number, keys: number): LayerStats => ({ hits, misses, hitRate: rate(hits, misses), keys });

  return {
    namespace<T>(name: string, options: NamespaceOptions): CacheNamespace<T> {
      if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`Cache namespace names are lower-case words: ${name}`);
      let space = spaces.get(name);
      if (!space) spaces.set(name, (space = createSpace(name, options)));
      return space.handle as CacheNamespace<T>;
    },

    async clear(pattern = '*') {
      return announce({ pattern }, () => kv.deleteMatching(`${cachePrefix}${pattern}`));
    },

    async stats(): Promise<CacheStats> {
      const namespaces: CacheStats['namespaces'] = {};
      const total = { l1Hits: 0, l1Misses: 0, l2Hits: 0, l2Misses: 0, l1Keys: 0 };
      for (const space of spaces.values()) {
        const c = space.counts;
        const l1Keys = space.l1.size();
        const l2Keys = await kv.countMatching(`${cachePrefix}${space.name}:*`);
        namespaces[space.name] = {
          l1: layer(c.l1Hits, c.l1Misses, l1Keys),
          l2: layer(c.l2Hits, c.l2Misses, l2Keys),
          loads: c.loads,
          invalidations: c.invalidations,
        };
        total.l1Hits += c.l1Hits;
        total.l1Misses += c.l1Misses;
        total.l2Hits += c.l2Hits;
        total.l2Misses += c.l2Misses;
        total.l1Keys += l1Keys;
      }
      return {
        l1: layer(total.l1Hits, total.l1Misses, total.l1Keys),
        l2: layer(total.l2Hits, total.l2Misses, await kv.countMatching(`${cachePrefix}*`)),
        namespaces,
      };
    },

    counters() {
      return [...spaces.values()].map((space) => ({ namespace: space.name, ...space.counts, l1Keys: space.l1.size() }));
    },

    async close() {
      await unsubscribe?.().catch(() => undefined);
      for (const space of spaces.values()) space.l1.clear();
    },
  };
}
