import { forbidden, unauthorized } from '../../http/errors.ts';
import type { Tx } from '../../infra/db/index.ts';
import type { Infra } from '../../infra/index.ts';
import { toPublicUser, type UserRow } from '../users/service.ts';
import type { AccessTokenCodec } from './access-tokens.ts';
import type { AuthResponse } from './model.ts';
import type { AuthRepository } from './repository.ts';
import type { Revocations } from './revocations.ts';
import { hashSecret, randomSecret } from './secrets.ts';

export type ClientMeta = { userAgent: string | null; ip: string | null };

/**
 * Sessions and their tokens: a session is one sign-in on one device. It carries a chain of
 * refresh tokens (each good once) and mints short-lived access tokens. Every way a session ends
 * goes through here and is announced (`revocations`), so live connections holding it end too.
 */
export function createSessionTokens(infra: Infra, repo: AuthRepository, codec: AccessTokenCodec, revocations: Revocations) {
  const { config, log } = infra;
  const refreshTtlMs = config.refreshTokenTtlSeconds * 1000;

  /** A new refresh token (stored in `tx`'s unit of work) and access token for the session. */
  const mint = async (user: UserRow, sessionId: string, tx: Tx): Promise<AuthResponse> => {
    const refreshToken = randomSecret('rt_');
    await repo
      .with(tx)
      .insertRefreshToken({ tokenHash: hashSecret(refreshToken), sessionId, expiresAt: new Date(Date.now() + refreshTtlMs) });
    const access = await codec.sign({ sub: user.id, sid: sessionId, role: user.role });
    return { user: toPublicUser(user), accessToken: access.token, refreshToken, expiresIn: config.accessTokenTtlSeconds };
  };

  /** Announces sessions that just ended (after they are stored as ended). */
  const ended = (sessionIds: string[]) => revocations.publish({ kind: 'sessions', sessionIds });

  const revokeSession = async (sessionId: string, userId?: string): Promise<boolean> => {
    const revoked = await repo.revokeSession(sessionId, userId);
    if (revoked) await ended([sessionId]);
    return revoked;
  };

  const revokeAndLog = async (sessionId: string, reason: string) => {
    await revokeSession(sessionId);
    log.warn('session revoked', { sessionId, reason });
  };

  return {
    async start(user: UserRow, meta: ClientMeta): Promise<AuthResponse> {
      const sessionId = Bun.randomUUIDv7();
      // The session and its first refresh token: both stored, or neither.
      return infra.db.transaction(async (tx) => {
        await repo.with(tx).createSession({ id: sessionId, userId: user.id, ...meta, expiresAt: new Date(Date.now() + refreshTtlMs) });
        return mint(user, sessionId, tx);
      });
    },

    /** Rotates a refresh token. A token presented twice means it leaked: the session ends. */
    async refresh(refreshToken: string, meta: ClientMeta): Promise<AuthResponse> {
      const tokenHash = hashSecret(refreshToken);
      const stored = await repo.findRefreshToken(tokenHash);
      if (!stored) throw unauthorized('Invalid refresh token');
      const found = await repo.findSessionWithUser(stored.sessionId);
      if (!found || found.session.revokedAt) throw unauthorized('Session has ended');
      // Before the token is spent, so the session can refresh again once the user is re-enabled.
      if (found.user.disabled) throw forbidden('This account is disabled');
      if (stored.usedAt || !(await repo.consumeRefreshToken(tokenHash))) {
        await revokeAndLog(stored.sessionId, 'refresh token reused');
        throw unauthorized('Refresh token was already used; the session has been ended');
      }
      if (stored.expiresAt.getTime() <= Date.now() || found.session.expiresAt.getTime() <= Date.now()) {
        throw unauthorized('Session has expired');
      }
      return infra.db.transaction(async (tx) => {
        await repo.with(tx).touchSession(stored.sessionId, { expiresAt: new Date(Date.now() + refreshTtlMs), ...meta });
        return mint(found.user, stored.sessionId, tx);
      });
    },

    /** Ends one session (of `userId`, when given); false when there was no such live session. */
    revokeSession,
    /** Ends every session of the user (but `exceptSessionId`); returns the ids ended. */
    async revokeAllSessions(userId: string, exceptSessionId?: string): Promise<string[]> {
      const sessionIds = await repo.revokeUserSessions(userId, exceptSessionId);
      await ended(sessionIds);
      return sessionIds;
    },
  };
}

export type SessionTokens = ReturnType<typeof createSessionTokens>;
