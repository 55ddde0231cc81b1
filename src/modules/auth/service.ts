import type { Infra } from '../../infra/index.ts';
import type { UsersService } from '../users/service.ts';
import { createAccessTokenCodec } from './access-tokens.ts';
import { createAccounts } from './accounts.ts';
import { createApiKeys } from './api-keys.ts';
import { createCallerResolver } from './caller.ts';
import { createAuthRepository } from './repository.ts';
import { createSessionList } from './session-list.ts';
import { createSessionTokens } from './sessions.ts';

/** Everything identity: accounts, sessions and their tokens, API keys, and who is calling. */
export function createAuthService(infra: Infra, users: UsersService) {
  const repo = createAuthRepository(infra.db);
  const codec = createAccessTokenCodec(infra.config.jwtSecret, infra.config.accessTokenTtlSeconds);
  const sessions = createSessionTokens(infra, repo, codec);
  return {
    accounts: createAccounts(infra, users, repo, sessions, infra.mailer),
    sessions,
    sessionList: createSessionList(repo, sessions),
    apiKeys: createApiKeys(repo),
    resolveCaller: createCallerResolver(infra, repo, codec),
    cleanup: () => repo.cleanup(),
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
