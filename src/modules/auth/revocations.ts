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

/** A revocation as it travels: with an id, so a listener that hears it twice acts once. */
type Notice = Revocation & { id: string };

const channel = 'auth:revoked';
// Notice ids a listener remembers, to drop the second copy (local delivery, then the KV echo).
const seenAtMost = 10_000;

function parse(message: string): Notice | null {
  try {
    const value = JSON.parse(message) as Partial<Notice> & Record<string, unknown>;
    if (typeof value.id !== 'string') return null;
    if (value.kind === 'sessions' && Array.isArray(value.sessionIds)) return value as Notice;
    if (value.kind === 'apiKeys' && Array.isArray(value.apiKeyIds)) return value as Notice;
    if (value.kind === 'user' && typeof value.userId === 'string') return value as Notice;
  } catch {
    // not ours
  }
  return null;
}

/**
 * Revocations on KV pub/sub (channel `auth:revoked`), so every instance can end the live
 * connections (websockets, SSE readers) that still hold the revoked credentials. The database
 * stays the truth for every request; this only tells connections opened earlier, at once.
 *
 * A revocation is also handed to this instance's listeners directly, so local connections end
 * even while Redis is unreachable; each listener hears each revocation once.
 */
export function createRevocations({ kv, log }: Pick<Infra, 'kv' | 'log'>) {
  const local = new Set<(notice: Notice) => void>();

  return {
    /** Never throws: the revocation is already stored; a lost notice leaves the frame checks and expiry. */
    async publish(revocation: Revocation): Promise<void> {
      if (revocation.kind === 'sessions' && revocation.sessionIds.length === 0) return;
      if (revocation.kind === 'apiKeys' && revocation.apiKeyIds.length === 0) return;
      const notice: Notice = { ...revocation, id: crypto.randomUUID() };
      for (const hear of [...local]) hear(notice);
      try {
        await kv.publish(channel, JSON.stringify(notice));
      } catch (error) {
        log.warn('could not publish a revocation', { kind: revocation.kind, error: (error as Error).message });
      }
    },

    /**
     * Hears every revocation, from this instance or another. Resolves once subscribed; while KV
     * is unreachable it keeps trying in the background (this instance's own revocations are heard
     * meanwhile).
     */
    async subscribe(listener: RevocationListener, retryMs = 1000): Promise<() => Promise<void>> {
      const seen = new Set<string>();
      const hear = (notice: Notice) => {
        if (seen.has(notice.id)) return;
        seen.add(notice.id);
        if (seen.size > seenAtMost) seen.delete(seen.values().next().value!);
        const { id: _, ...revocation } = notice;
        try {
          listener(revocation as Revocation);
        } catch (error) {
          log.error('a revocation listener failed', { error });
        }
      };
      local.add(hear);
      let active = true;
      let unsubscribe: (() => Promise<void>) | undefined;
      let retry: Timer | undefined;
      const attempt = async () => {
        try {
          const done = await kv.subscribe(channel, (message) => {
            const notice = parse(message);
            if (notice) hear(notice);
          });
          if (active) unsubscribe = done;
          else await done();
        } catch (error) {
          log.warn('cannot subscribe to revocations yet; retrying', { error: (error as Error).message });
          if (active) retry = setTimeout(() => void attempt(), retryMs);
          retry?.unref?.();
        }
      };
      await attempt();
      return async () => {
        active = false;
        clearTimeout(retry);
        local.delete(hear);
        await unsubscribe?.();
      };
    },
  };
}

export type Revocations = ReturnType<typeof createRevocations>;
