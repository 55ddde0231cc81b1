import { and, eq, gt, inArray, isNull } from 'drizzle-orm';
import type { Infra } from '../../infra/index.ts';

/**
 * Credentials that stopped working: sessions (logout, logout-all, DELETE /auth/sessions/:id,
 * refresh-token reuse, a password change or reset, a guest that registered), API keys (revoked),
 * or every credential of a user (disabled by an admin).
 */
export type Revocation =
  | { kind: 'sessions'; sessionIds: string[] }
  | { kind: 'apiKeys'; apiKeyIds: string[] }
  | { kind: 'user'; userId: string; reason: 'disabled' };

export type RevocationListener = (revocation: Revocation) => void;

/** Credentials held by live connections, to be checked against the database. */
export type CredentialIds = { sessionIds: readonly string[]; apiKeyIds: readonly string[]; userIds: readonly string[] };
/** Those of them that still work. */
export type ValidCredentials = { sessionIds: Set<string>; apiKeyIds: Set<string>; userIds: Set<string> };

export type SubscribeOptions = {
  /** Pause between attempts to subscribe while KV is unreachable (ms, default 1000). */
  retryMs?: number;
  /**
   * Called when revocations may have been missed: the subscription was lost and is back (KV
   * reported degraded, then ok again), it was only made after failed attempts, or an instance
   * that could not publish a revocation says so once KV is back. The listener should check what
   * it holds against the database (`stillValid`).
   */
  onMissed?: () => void;
};

/** A revocation as it travels: with an id, so a listener that hears it twice acts once. */
type Notice = Revocation & { id: string };
/** Sent by an instance that could not publish revocations, once KV is back: everyone re-checks. */
type MissedNotice = { id: string; kind: 'missed' };

const channel = 'auth:revoked';
// Notice ids a listener remembers, to drop the second copy (local delivery, then the KV echo).
const seenAtMost = 10_000;
// How often a subscription looks at KV's status, to notice an outage and its end (no I/O).
const statusPollMs = 200;
// After KV is back, ioredis reports ready before it has re-subscribed: a second check this much
// later covers revocations published in between.
const settleMs = 1000;
// How long an instance that failed to publish keeps trying to tell the others (the periodic
// re-check covers the rest).
const missedNoticeForMs = 5 * 60_000;
// Ids per query (bound parameters: SQLite allows 32,766, Postgres 65,535).
const idsPerQuery = 10_000;

function parse(message: string): Notice | MissedNotice | null {
  try {
    const value = JSON.parse(message) as Partial<Notice> & Record<string, unknown>;
    if (typeof value.id !== 'string') return null;
    if (value.kind === 'sessions' && Array.isArray(value.sessionIds)) return value as Notice;
    if (value.kind === 'apiKeys' && Array.isArray(value.apiKeyIds)) return value as Notice;
    if (value.kind === 'user' && typeof value.userId === 'string') return value as Notice;
    if ((value.kind as string) === 'missed') return { id: value.id, kind: 'missed' };
  } catch {
    // not ours
  }
  return null;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += idsPerQuery) out.push(items.slice(i, i + idsPerQuery));
  return out;
}

/**
 * Revocations on KV pub/sub (channel `auth:revoked`), so every instance can end the live
 * connections (websockets, SSE readers) that still hold the revoked credentials. The database
 * stays the truth for every request; this only tells connections opened earlier, at once.
 *
 * A revocation is also handed to this instance's listeners directly, so local connections end
 * even while Redis is unreachable; each listener hears each revocation once.
 *
 * Pub/sub loses what is published while a subscriber is cut off, and a publisher cut off from
 * Redis cannot publish at all. So a subscriber is told (`onMissed`) whenever it may have missed
 * something, and `stillValid` answers from the database which credentials still work, one query
 * per kind for any number of them.
 */
export function createRevocations({ kv, log, db }: Pick<Infra, 'kv' | 'log'> & Partial<Pick<Infra, 'db'>>) {
  const local = new Set<(notice: Notice) => void>();

  // A publish failed: once KV is back, every instance is asked to re-check (retried until sent).
  let failures = 0;
  let failingSince: number | undefined;
  let missedTimer: Timer | undefined;
  let closed = false;
  const retryMissed = (afterMs = statusPollMs) => {
    if (missedTimer || closed) return;
    missedTimer = setTimeout(tellMissed, afterMs);
    missedTimer.unref?.();
  };
  function tellMissed() {
    missedTimer = undefined;
    if (failingSince === undefined) return;
    if (Date.now() - failingSince > missedNoticeForMs) return void (failingSince = undefined);
    // Waits for KV to be back (a status look, no I/O).
    if (kv.status() !== 'ok') return retryMissed();
    const covered = failures;
    const notice: MissedNotice = { id: crypto.randomUUID(), kind: 'missed' };
    kv.publish(channel, JSON.stringify(notice)).then(
      // A publish that failed meanwhile asks again.
      () => (failures === covered ? void (failingSince = undefined) : retryMissed()),
      () => retryMissed(1000),
    );
  }
  const publishFailed = () => {
    failures++;
    failingSince ??= Date.now();
    retryMissed();
  };

  /** The ids among `ids` for which `query` (one chunk at a time) answers a row. */
  const found = async (ids: readonly string[], query: (chunk: string[]) => Promise<{ id: string }[]>): Promise<Set<string>> => {
    const out = new Set<string>();
    for (const chunk of chunks([...new Set(ids)])) for (const row of await query(chunk)) out.add(row.id);
    return out;
  };

  return {
    /**
     * Never throws: the revocation is already stored. If KV cannot carry it, other instances are
     * asked to re-check once KV is back (and re-check periodically anyway).
     */
    async publish(revocation: Revocation): Promise<void> {
      if (revocation.kind === 'sessions' && revocation.sessionIds.length === 0) return;
      if (revocation.kind === 'apiKeys' && revocation.apiKeyIds.length === 0) return;
      const notice: Notice = { ...revocation, id: crypto.randomUUID() };
      for (const hear of [...local]) hear(notice);
      try {
        await kv.publish(channel, JSON.stringify(notice));
      } catch (error) {
        log.warn('could not publish a revocation; other instances will re-check once KV is back', {
          kind: revocation.kind,
          error: (error as Error).message,
        });
        publishFailed();
      }
    },

    /**
     * Which of these credentials still work, from the database: sessions not revoked and not
     * expired, API keys not revoked, users not disabled (an id without a row does not). One
     * query per kind (per 10,000 ids). Undefined without a database.
     */
    stillValid: db
      ? async (ids: CredentialIds): Promise<ValidCredentials> => {
          const { sessions, apiKeys, users } = db.tables;
          const now = new Date();
          const [sessionIds, apiKeyIds, userIds] = await Promise.all([
            found(ids.sessionIds, (chunk) =>
              db.run((q) =>
                q
                  .select({ id: sessions.id })
                  .from(sessions)
                  .where(and(inArray(sessions.id, chunk), isNull(sessions.revokedAt), gt(sessions.expiresAt, now))),
              ),
            ),
            found(ids.apiKeyIds, (chunk) =>
              db.run((q) =>
                q
                  .select({ id: apiKeys.id })
                  .from(apiKeys)
                  .where(and(inArray(apiKeys.id, chunk), isNull(apiKeys.revokedAt))),
              ),
            ),
            found(ids.userIds, (chunk) =>
              db.run((q) =>
                q
                  .select({ id: users.id })
                  .from(users)
                  .where(and(inArray(users.id, chunk), eq(users.disabled, false))),
              ),
            ),
          ]);
          return { sessionIds, apiKeyIds, userIds };
        }
      : undefined,

    /** Shutdown: stops retrying the notice of a failed publish (its KV is closing). */
    close() {
      closed = true;
      clearTimeout(missedTimer);
      missedTimer = undefined;
    },

    /**
     * Hears every revocation, from this instance or another. Resolves once subscribed; while KV
     * is unreachable it keeps trying in the background (this instance's own revocations are heard
     * meanwhile). `onMissed` is called whenever revocations may have been missed (see
     * SubscribeOptions).
     */
    async subscribe(listener: RevocationListener, { retryMs = 1000, onMissed }: SubscribeOptions = {}): Promise<() => Promise<void>> {
      const seen = new Set<string>();
      let active = true;
      const missed = () => {
        if (!active || !onMissed) return;
        try {
          onMissed();
        } catch (error) {
          log.error('a revocation listener failed', { error });
        }
      };
      const hear = (notice: Notice | MissedNotice) => {
        if (seen.has(notice.id)) return;
        seen.add(notice.id);
        if (seen.size > seenAtMost) seen.delete(seen.values().next().value!);
        if (notice.kind === 'missed') return missed();
        const { id: _, ...revocation } = notice;
        try {
          listener(revocation as Revocation);
        } catch (error) {
          log.error('a revocation listener failed', { error });
        }
      };
      local.add(hear);
      let unsubscribe: (() => Promise<void>) | undefined;
      let retry: Timer | undefined;
      let failed = false;
      const attempt = async () => {
        try {
          const done = await kv.subscribe(channel, (message) => {
            const notice = parse(message);
            if (notice) hear(notice);
          });
          if (active) unsubscribe = done;
          else await done();
          // Subscribed only now: what was published before is lost.
          if (failed) missed();
        } catch (error) {
          if (!failed) log.warn('cannot subscribe to revocations yet; retrying', { error: (error as Error).message });
          failed = true;
          if (active) retry = setTimeout(() => void attempt(), retryMs);
          retry?.unref?.();
        }
      };
      // KV away, then back: the subscription was down meanwhile (ioredis restores it by itself).
      let down = kv.status() !== 'ok';
      let settle: Timer | undefined;
      const watch = onMissed
        ? setInterval(() => {
            if (kv.status() !== 'ok') return void (down = true);
            if (!down) return;
            down = false;
            missed();
            clearTimeout(settle);
            settle = setTimeout(missed, settleMs);
            settle.unref?.();
          }, statusPollMs)
        : undefined;
      watch?.unref?.();
      await attempt();
      return async () => {
        active = false;
        clearTimeout(retry);
        clearInterval(watch);
        clearTimeout(settle);
        local.delete(hear);
        await unsubscribe?.();
      };
    },
  };
}

export type Revocations = ReturnType<typeof createRevocations>;
