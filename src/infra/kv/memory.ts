import { compareStreamIds, globToRegExp } from './glob.ts';
import type { KeyValueStore, LimitWindow, StreamEntry, WindowsVerdict } from './types.ts';
import { checkWindows } from './windows.ts';

/** A lease set: member → expiry (ms since the epoch). */
type Leases = Map<string, number>;
type Slot = { value: string | StreamEntry[] | Leases; expiresAt: number | null };

const sweepIntervalMs = 30_000;

/**
 * The single-instance fallback: the same behaviour as Redis, kept in this process. Expired keys
 * are dropped when touched and by a periodic sweep, so memory does not grow with dead keys.
 */
export function createMemoryStore(): KeyValueStore {
  const slots = new Map<string, Slot>();
  const channels = new Map<string, Set<(message: string) => void>>();
  let lastStreamMs = 0;
  let lastStreamSeq = 0;

  const live = (key: string): Slot | undefined => {
    const slot = slots.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt !== null && slot.expiresAt <= Date.now()) {
      slots.delete(key);
      return undefined;
    }
    return slot;
  };
  const stringOf = (key: string) => {
    const slot = live(key);
    return typeof slot?.value === 'string' ? slot.value : null;
  };
  // Synchronous from the first read to the last write, so no other call of this process can come
  // between the check and the charge: all windows or none, as the Redis script does.
  const windowsVerdict = (windows: LimitWindow[], by: number, charge: boolean): WindowsVerdict => {
    checkWindows(windows, by);
    const now = Date.now();
    const current = windows.map(({ key }) => {
      const slot = live(key);
      if (slot && typeof slot.value !== 'string') throw new Error(`${key} does not hold a counter`);
      const count = Number(slot?.value ?? 0);
      if (!Number.isSafeInteger(count)) throw new Error(`${key} does not hold a counter`);
      return { slot, count };
    });
    const allowed = windows.map((window, i) => current[i]!.count + by <= window.limit);
    const admitted = allowed.every(Boolean);
    return {
      admitted,
      windows: windows.map((window, i) => {
        let { slot, count } = current[i]!;
        if (admitted && charge) {
          if (!slot) slots.set(window.key, (slot = { value: '0', expiresAt: now + window.ttlMs }));
          // A counter without expiry gets one, so the window always ends (as in the Redis script).
          if (slot.expiresAt === null) slot.expiresAt = now + window.ttlMs;
          count += by;
          slot.value = String(count);
        }
        const resetMs = slot?.expiresAt != null ? slot.expiresAt - now : window.ttlMs;
        return { allowed: allowed[i]!, count, remaining: Math.max(0, window.limit - count), resetMs };
      }),
    };
  };
  /** The live leases of `key` (expired ones dropped), created when `create` is set. */
  const leasesOf = (key: string, create: boolean): Leases | undefined => {
    let slot = live(key);
    if (slot && !(slot.value instanceof Map)) throw new Error(`${key} does not hold leases`);
    if (!slot) {
      if (!create) return undefined;
      slots.set(key, (slot = { value: new Map(), expiresAt: null }));
    }
    const leases = slot.value as Leases;
    const now = Date.now();
    for (const [member, expiresAt] of leases) if (expiresAt <= now) leases.delete(member);
    return leases;
  };
  /** The set expires with its last lease, as the Redis key does. */
  const extend = (key: string, leases: Leases) => {
    const slot = slots.get(key)!;
    slot.expiresAt = leases.size ? Math.max(...leases.values()) : Date.now();
  };
  const matching = (pattern: string) => {
    const regexp = globToRegExp(pattern);
    return [...slots.keys()].filter((key) => live(key) && regexp.test(key));
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, slot] of slots) if (slot.expiresAt !== null && slot.expiresAt <= now) slots.delete(key);
  }, sweepIntervalMs);
  sweep.unref();

  return {
    kind: 'memory',
    async get(key) {
      return stringOf(key);
    },
    async set(key, value, { ttlMs, onlyIfAbsent } = {}) {
      if (onlyIfAbsent && live(key)) return false;
      slots.set(key, { value, expiresAt: ttlMs ? Date.now() + ttlMs : null });
      return true;
    },
    async del(...keys) {
      let removed = 0;
      for (const key of keys) if (live(key) && slots.delete(key)) removed++;
      return removed;
    },
    async exists(key) {
      return live(key) !== undefined;
    },
    async incr(key, { by = 1, ttlMs } = {}) {
      const slot = live(key);
      if (slot && typeof slot.value !== 'string') throw new Error(`${key} does not hold a counter`);
      const next = Number(slot?.value ?? 0) + by;
      if (!Number.isFinite(next)) throw new Error(`${key} does not hold a number`);
      if (slot) slot.value = String(next);
      else slots.set(key, { value: String(next), expiresAt: ttlMs ? Date.now() + ttlMs : null });
      return next;
    },
    async consumeWindows(windows, { by = 1 } = {}) {
      return windowsVerdict(windows, by, true);
    },
    async peekWindows(windows, { by = 1 } = {}) {
      return windowsVerdict(windows, by, false);
    },
    async acquireLease(key, member, { limit, ttlMs }) {
      const leases = leasesOf(key, true)!;
      if (!leases.has(member) && limit > 0 && leases.size >= limit) return { acquired: false, held: leases.size };
      leases.set(member, Date.now() + ttlMs);
      extend(key, leases);
      return { acquired: true, held: leases.size };
    },
    async renewLease(key, member, ttlMs) {
      const leases = leasesOf(key, false);
      if (!leases?.has(member)) return false;
      leases.set(member, Date.now() + ttlMs);
      extend(key, leases);
      return true;
    },
    async releaseLease(key, member) {
      const leases = leasesOf(key, false);
      if (leases?.delete(member)) extend(key, leases);
    },
    async countLeases(key) {
      return leasesOf(key, false)?.size ?? 0;
    },
    async deleteMatching(pattern) {
      const keys = matching(pattern);
      for (const key of keys) slots.delete(key);
      return keys.length;
    },
    async countMatching(pattern) {
      return matching(pattern).length;
    },
    async publish(channel, message) {
      // Delivered asynchronously, like Redis, so a publisher never runs its subscribers' code.
      const listeners = channels.get(channel);
      if (!listeners) return;
      for (const listener of [...listeners]) queueMicrotask(() => listener(message));
    },
    async subscribe(channel, listener) {
      let listeners = channels.get(channel);
      if (!listeners) channels.set(channel, (listeners = new Set()));
      // Wrapped so the same function may subscribe twice and unsubscribe each separately.
      const entry = (message: string) => listener(message);
      listeners.add(entry);
      return async () => {
        // A second call must not drop a newer set of listeners registered for the same channel.
        if (!listeners.delete(entry) || listeners.size > 0) return;
        if (channels.get(channel) === listeners) channels.delete(channel);
      };
    },
    async streamAppend(key, fields, { ttlMs } = {}) {
      let slot = live(key);
      if (slot && !Array.isArray(slot.value)) throw new Error(`${key} does not hold a stream`);
      if (!slot) slots.set(key, (slot = { value: [], expiresAt: null }));
      const now = Date.now();
      if (now > lastStreamMs) [lastStreamMs, lastStreamSeq] = [now, 0];
      else lastStreamSeq++;
      const id = `${lastStreamMs}-${lastStreamSeq}`;
      const entries = slot.value as StreamEntry[];
      entries.push({ id, fields: { ...fields } });
      if (ttlMs) slot.expiresAt = now + ttlMs;
      return id;
    },
    async streamRead(key, { afterId } = {}) {
      const slot = live(key);
      if (!slot || !Array.isArray(slot.value)) return [];
      // Ids only grow, so the first entry after `afterId` is found by binary search: followers
      // read after every append, and a linear scan would make a long reply quadratic.
      const entries = slot.value;
      let start = 0;
      if (afterId) {
        let high = entries.length;
        while (start < high) {
          const middle = (start + high) >>> 1;
          if (compareStreamIds(entries[middle]!.id, afterId) > 0) high = middle;
          else start = middle + 1;
        }
      }
      return entries.slice(start).map((entry) => ({ id: entry.id, fields: { ...entry.fields } }));
    },
    async streamLength(key) {
      const slot = live(key);
      return slot && Array.isArray(slot.value) ? slot.value.length : 0;
    },
    status() {
      return 'ok';
    },
    async ping() {
      return 0;
    },
    async close() {
      clearInterval(sweep);
      slots.clear();
      channels.clear();
    },
  };
}
