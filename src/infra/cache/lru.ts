/** A capped map with expiries: reading an entry makes it the most recent; the least recent goes first when full. */
export function createLru<V>(maxEntries: number) {
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get(key: string, now = Date.now()): V | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      entries.delete(key);
      if (entry.expiresAt <= now) return undefined;
      entries.set(key, entry);
      return entry.value;
    },
    set(key: string, value: V, ttlMs: number, now = Date.now()) {
      entries.delete(key);
      entries.set(key, { value, expiresAt: now + ttlMs });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    delete: (key: string) => entries.delete(key),
    /** Deletes the keys `match` accepts; returns how many. */
    deleteWhere(match: (key: string) => boolean): number {
      let n = 0;
      for (const key of [...entries.keys()]) if (match(key) && entries.delete(key)) n++;
      return n;
    },
    /** Live entries (expired ones are dropped here). */
    size(now = Date.now()): number {
      for (const [key, entry] of [...entries]) if (entry.expiresAt <= now) entries.delete(key);
      return entries.size;
    },
    clear: () => entries.clear(),
  };
}
