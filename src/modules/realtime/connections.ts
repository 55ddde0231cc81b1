import type { Caller } from '../../http/auth.ts';
import type { Infra } from '../../infra/index.ts';
import type { Revocation, Revocations } from '../auth/service.ts';

/** Why a connection lost its rights: the message of its `error {code: "unauthorized"}`. */
export type EndReason = { code: 'unauthorized'; message: string };

/** One live connection's hold on its credentials. */
export type Watch = {
  /**
   * True once its credentials were revoked or expired (checked against the clock too, so a frame
   * racing the timer is refused). Not set by `release`.
   */
  readonly ended: boolean;
  /** Stops watching (the connection closed by itself): `onEnd` will not run. */
  release(): void;
};

type Entry = {
  userId: string;
  sessionId: string | null;
  apiKeyId: string | null;
  /** When the credentials stop working, ms since the epoch; null for never. */
  expiresAtMs: number | null;
  onEnd: (reason: EndReason) => void;
  /** Revoked or expired. */
  ended: boolean;
  /** No longer watched: the connection went away by itself. */
  released: boolean;
  timer?: Timer;
};

// Timers cannot wait longer than this (about 24.8 days); a later expiry re-arms.
const maxTimerMs = 2 ** 31 - 1;
// How long a revocation is remembered, for connections whose credentials were checked before
// it arrived but which register after it (a websocket still subscribing, an SSE response still
// being prepared; a repeat of a reply may wait for the first for minutes).
const rememberMs = 10 * 60_000;
// And at most this many of each kind (the oldest go first), so a burst of logouts cannot grow memory without bound.
const rememberAtMost = 100_000;
// REVOCATION_RECHECK_MS when no config is given.
const defaultRecheckMs = 30_000;

const reasons = {
  sessions: 'Session has ended',
  apiKeys: 'API key has been revoked',
  user: 'This account is disabled',
  tokenExpired: 'Token has expired',
  apiKeyExpired: 'API key has expired',
} as const;

/** When a caller's credentials stop working by themselves, ms since the epoch; null for never. */
export function credentialsExpireAt(caller: Caller): number | null {
  if (caller.tokenExpiresAt !== null) return caller.tokenExpiresAt * 1000;
  return caller.apiKeyExpiresAtMs;
}

/**
 * Every long-lived connection of this instance (websockets, SSE readers), indexed by session,
 * API key and user, so that a revocation heard on KV pub/sub (from any instance) ends the
 * matching ones at once, and each ends by itself when its token or key expires.
 *
 * Pub/sub can lose a revocation (Redis away from this instance or from the one that revoked).
 * So every connection's credentials are checked again against the database (`recheck`: one
 * query per kind for all of them) whenever one may have been missed (the subscription came
 * back, or another instance could not publish), and every REVOCATION_RECHECK_MS anyway; those
 * no longer valid end exactly as on a revocation.
 */
export function createLiveConnections(
  infra: Pick<Infra, 'log'> & { config?: Pick<Infra['config'], 'revocationRecheckMs'> },
  revocations: Revocations,
) {
  const bySession = new Map<string, Set<Entry>>();
  const byApiKey = new Map<string, Set<Entry>>();
  const byUser = new Map<string, Set<Entry>>();
  // Revocations heard lately: id → when (performance.now()), for connections registering late.
  const heard = { sessions: new Map<string, number>(), apiKeys: new Map<string, number>(), users: new Map<string, number>() };

  const index = (map: Map<string, Set<Entry>>, key: string | null, entry: Entry) => {
    if (key === null) return;
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(entry);
  };
  const unindex = (map: Map<string, Set<Entry>>, key: string | null, entry: Entry) => {
    if (key === null) return;
    const set = map.get(key);
    if (set?.delete(entry) && set.size === 0) map.delete(key);
  };
  const remove = (entry: Entry) => {
    clearTimeout(entry.timer);
    unindex(bySession, entry.sessionId, entry);
    unindex(byApiKey, entry.apiKeyId, entry);
    unindex(byUser, entry.userId, entry);
  };
  const end = (entry: Entry, message: string) => {
    if (entry.ended) return;
    entry.ended = true;
    remove(entry);
    if (entry.released) return;
    try {
      entry.onEnd({ code: 'unauthorized', message });
    } catch (error) {
      infra.log.error('ending a connection failed', { error });
    }
  };
  const expiryMessage = (entry: Entry) => (entry.sessionId ? reasons.tokenExpired : reasons.apiKeyExpired);
  const arm = (entry: Entry) => {
    if (entry.expiresAtMs === null) return;
    const left = entry.expiresAtMs - Date.now();
    if (left <= 0) return end(entry, expiryMessage(entry));
    entry.timer = setTimeout(
      () => (entry.expiresAtMs! <= Date.now() ? end(entry, expiryMessage(entry)) : arm(entry)),
      Math.min(left, maxTimerMs),
    );
    entry.timer.unref?.();
  };

  const remember = (map: Map<string, number>, id: string, at: number) => {
    // A later hearing of the same id stands (a re-check reports what it read at its start).
    at = Math.max(at, map.get(id) ?? -Infinity);
    map.delete(id);
    map.set(id, at);
    // Oldest first (insertion order): drop what is past remembering.
    for (const [key, when] of map) {
      if (at - when < rememberMs && map.size <= rememberAtMost) break;
      map.delete(key);
    }
  };
  const onRevocation = (revocation: Revocation) => {
    const at = performance.now();
    const matches: [Set<Entry> | undefined, string][] = [];
    if (revocation.kind === 'sessions') {
      for (const id of revocation.sessionIds) {
        remember(heard.sessions, id, at);
        matches.push([bySession.get(id), reasons.sessions]);
      }
    } else if (revocation.kind === 'apiKeys') {
      for (const id of revocation.apiKeyIds) {
        remember(heard.apiKeys, id, at);
        matches.push([byApiKey.get(id), reasons.apiKeys]);
      }
    } else {
      remember(heard.users, revocation.userId, at);
      matches.push([byUser.get(revocation.userId), reasons.user]);
    }
    for (const [set, message] of matches) for (const entry of [...(set ?? [])]) end(entry, message);
  };

  /**
   * Checks the credentials of every connection watched now against the database and ends those
   * that stopped working, as their revocation would have. Connections registered while the
   * database is read are left alone (their own check may be newer); the ids found invalid are
   * remembered as revoked when the read began, for connections checked before it that register
   * late.
   */
  const recheckOnce = async (): Promise<void> => {
    const stillValid = revocations.stillValid;
    if (!stillValid) return;
    const entries: Entry[] = [];
    for (const set of byUser.values()) for (const entry of set) entries.push(entry);
    if (entries.length === 0) return;
    const at = performance.now();
    const ids = { sessions: new Set<string>(), apiKeys: new Set<string>(), users: new Set<string>() };
    for (const entry of entries) {
      if (entry.sessionId !== null) ids.sessions.add(entry.sessionId);
      if (entry.apiKeyId !== null) ids.apiKeys.add(entry.apiKeyId);
      ids.users.add(entry.userId);
    }
    let valid: Awaited<ReturnType<typeof stillValid>>;
    try {
      valid = await stillValid({ sessionIds: [...ids.sessions], apiKeyIds: [...ids.apiKeys], userIds: [...ids.users] });
    } catch (error) {
      infra.log.warn('could not re-check live connections; trying again later', { error: (error as Error).message });
      return;
    }
    for (const id of ids.sessions) if (!valid.sessionIds.has(id)) remember(heard.sessions, id, at);
    for (const id of ids.apiKeys) if (!valid.apiKeyIds.has(id)) remember(heard.apiKeys, id, at);
    for (const id of ids.users) if (!valid.userIds.has(id)) remember(heard.users, id, at);
    let ended = 0;
    for (const entry of entries) {
      if (entry.ended || entry.released) continue;
      const reason =
        entry.sessionId !== null && !valid.sessionIds.has(entry.sessionId)
          ? reasons.sessions
          : entry.apiKeyId !== null && !valid.apiKeyIds.has(entry.apiKeyId)
            ? reasons.apiKeys
            : !valid.userIds.has(entry.userId)
              ? reasons.user
              : undefined;
      if (reason) {
        end(entry, reason);
        ended++;
      }
    }
    if (ended > 0) infra.log.info('live connections ended by a re-check', { ended, checked: entries.length });
  };

  // One re-check at a time; one asked for meanwhile runs once more after it (the running one
  // may have read the database before what it was asked for).
  let running: Promise<void> | undefined;
  let again = false;
  const recheck = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await recheckOnce();
        } while (again);
      } catch (error) {
        infra.log.error('re-checking live connections failed', { error });
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const subscribed = revocations.subscribe(onRevocation, { onMissed: () => void recheck() }).catch((error) => {
    infra.log.error('cannot hear revocations', { error });
    return async () => undefined;
  });
  // The backstop: a lost revocation ends its connections within this, whatever happened to KV.
  const periodic = setInterval(() => void recheck(), infra.config?.revocationRecheckMs ?? defaultRecheckMs);
  periodic.unref?.();

  /** Whether a revocation of these credentials was heard at or after `since`. */
  const revokedSince = (entry: Entry, since: number): string | undefined => {
    const after = (map: Map<string, number>, id: string | null) => id !== null && (map.get(id) ?? -Infinity) >= since;
    if (after(heard.sessions, entry.sessionId)) return reasons.sessions;
    if (after(heard.apiKeys, entry.apiKeyId)) return reasons.apiKeys;
    if (after(heard.users, entry.userId)) return reasons.user;
    return undefined;
  };

  return {
    /**
     * Watches a connection whose credentials resolved to `caller`; `onEnd` runs once, when they
     * are revoked (on any instance) or expire. `since` (performance.now()) is when the
     * credentials were checked: a revocation heard after it ends the connection at once (the
     * check may have read the database just before the revocation was stored). `onEnd` may
     * run before this returns.
     */
    watch(caller: Caller & { user: { id: string } }, since: number, onEnd: (reason: EndReason) => void): Watch {
      const entry: Entry = {
        userId: caller.user.id,
        sessionId: caller.sessionId,
        apiKeyId: caller.apiKeyId,
        expiresAtMs: credentialsExpireAt(caller),
        onEnd,
        ended: false,
        released: false,
      };
      index(bySession, entry.sessionId, entry);
      index(byApiKey, entry.apiKeyId, entry);
      index(byUser, entry.userId, entry);
      const revoked = revokedSince(entry, since);
      if (revoked) end(entry, revoked);
      else arm(entry);
      return {
        get ended() {
          if (!entry.ended && entry.expiresAtMs !== null && entry.expiresAtMs <= Date.now()) end(entry, expiryMessage(entry));
          return entry.ended;
        },
        release() {
          entry.released = true;
          remove(entry);
        },
      };
    },

    /** Resolves once this instance listens to revocations (tests wait for it before revoking). */
    ready: () => subscribed.then(() => undefined),

    /**
     * Checks every watched connection's credentials against the database now (as after a
     * missed revocation) and ends those that stopped working; resolves when done.
     */
    recheck,

    /** Connections watched right now, for leak checks. */
    size: () => {
      let count = 0;
      for (const set of byUser.values()) count += set.size;
      return count;
    },

    /** Stops listening and forgets every connection (shutdown). */
    async close(): Promise<void> {
      clearInterval(periodic);
      for (const set of [...byUser.values()]) for (const entry of [...set]) remove(entry);
      await (await subscribed)();
    },
  };
}

export type LiveConnections = ReturnType<typeof createLiveConnections>;
