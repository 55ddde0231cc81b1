import type { ApiKeyGrant } from '../../http/auth.ts';
import type { Infra } from '../../infra/index.ts';
import type { UsersService } from '../users/service.ts';
import { createAccessTokenCodec } from './access-tokens.ts';
import { createAccounts } from './accounts.ts';
import { createApiKeys } from './api-keys.ts';
import { createCallerResolver } from './caller.ts';
import { grantOf } from './key-grants.ts';
import { createAuthRepository } from './repository.ts';
import { createRevocations } from './revocations.ts';
import { createSessionList } from './session-list.ts';
import { createSessionTokens } from './sessions.ts';

export type { Revocation, Revocations } from './revocations.ts';

/**
 * Everything identity: accounts, sessions and their tokens, API keys, and who is calling; and
 * `revocations`, where every ended session, revoked key and disabled user is announced to the
 * live connections of every instance.
 */
export function createAuthService(infra: Infra, users: UsersService) {
  const repo = createAuthRepository(infra.db);
  const codec = createAccessTokenCodec(infra.config.jwtSecret, infra.config.accessTokenTtlSeconds);
  const revocations = createRevocations(infra);
  const sessions = createSessionTokens(infra, repo, codec, revocations);
  const apiKeys = createApiKeys(repo, users);
  return {
    accounts: createAccounts(infra, users, repo, sessions, infra.mailer),
    sessions,
    sessionList: createSessionList(repo, sessions),
    apiKeys: {
      ...apiKeys,
      /** Revokes the key and announces it, so connections opened with it end on every instance. */
      async revoke(userId: string, id: string): Promise<void> {
        await apiKeys.revoke(userId, id);
        await revocations.publish({ kind: 'apiKeys', apiKeyIds: [id] });
      },
    },
    revocations,
    /** Announces that every credential of the user stopped working (an admin disabled them). */
    userDisabled: (userId: string) => revocations.publish({ kind: 'user', userId, reason: 'disabled' }),
    resolveCaller: createCallerResolver(infra, repo, codec),
    /**
     * What API key `id` allows now, for work started with it and run later (a pipeline
     * execution's steps): its grant and expiry (ms since the epoch, null: none), or why it no
     * longer holds (`revoked`, `expired`; an unknown id reads as revoked).
     */
    async keyStanding(id: string): Promise<KeyStanding> {
      const row = await repo.findApiKey(id);
      if (!row || row.revokedAt) return { ok: false, reason: 'revoked' };
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
      return { ok: true, grant: grantOf(row), expiresAtMs: row.expiresAt?.getTime() ?? null };
    },
    cleanup: () => repo.cleanup(),
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** See AuthService.keyStanding. */
export type KeyStanding = { ok: true; grant: ApiKeyGrant; expiresAtMs: number | null } | { ok: false; reason: 'revoked' | 'expired' };
