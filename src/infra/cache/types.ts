/** One layer's counters in one namespace (or summed over all), as this instance saw them. */
export type LayerStats = { hits: number; misses: number; hitRate: number; keys: number };

export type NamespaceStats = { l1: LayerStats; l2: LayerStats; loads: number; invalidations: number };

export type CacheStats = {
  /** Summed over namespaces. `keys` of l2 counts every key under the cache prefix in the KV. */
  l1: LayerStats;
  l2: LayerStats;
  namespaces: Record<string, NamespaceStats>;
};

export type NamespaceOptions = {
  /** How long a value stays in this process's memory (L1); invalidations drop it sooner. */
  l1TtlMs: number;
  /** How long a value stays in the KV (L2, shared by instances). */
  l2TtlMs: number;
  /** Most entries kept in L1 for this namespace (least recently used go first). */
  l1MaxEntries?: number;
};

/**
 * One namespace of the two-layer cache: values are JSON (what `loader` returns must survive
 * JSON.stringify/parse), keys are free strings.
 */
export type CacheNamespace<T> = {
  readonly name: string;
  /**
   * Read-through: L1, then L2, then `loader` (once per key per instance however many callers
   * wait). A loader's error is not cached and reaches every waiting caller.
   */
  get(key: string, loader: () => Promise<T>): Promise<T>;
  /** Drops the key from both layers on every instance; resolves once the KV value is gone and the notice is out. */
  invalidate(key: string): Promise<void>;
  /** Drops every key starting with `prefix` ('' for the whole namespace) from both layers, everywhere. */
  invalidatePrefix(prefix: string): Promise<void>;
};

/**
 * In-process LRU (L1, short TTL) in front of the KV (L2, Redis or memory), with invalidations
 * announced on KV pub/sub so every instance drops its L1 copy. Only derived data belongs here:
 * anything may vanish at any time.
 */
export type Cache = {
  namespace<T>(name: string, options: NamespaceOptions): CacheNamespace<T>;
  /** Drops entries matching a glob over `<namespace>:<key>` from both layers on every instance; returns how many KV keys went. */
  clear(pattern?: string): Promise<number>;
  stats(): Promise<CacheStats>;
  /** Counters for /metrics: one row per namespace and layer. */
  counters(): {
    namespace: string;
    l1Hits: number;
    l1Misses: number;
    l2Hits: number;
    l2Misses: number;
    loads: number;
    invalidations: number;
    l1Keys: number;
  }[];
  close(): Promise<void>;
};
