import type { UserCaller } from '../../http/auth.ts';
import { forbidden, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { SessionView } from './model.ts';
import type { AuthRepository } from './repository.ts';
import type { SessionTokens } from './sessions.ts';

/** The signed-in devices a user sees and can end, and logging out. */
export function createSessionList(repo: AuthRepository, sessions: SessionTokens) {
  return {
    async list(caller: UserCaller, query: { limit?: number; cursor?: string }): Promise<Page<SessionView>> {
      const limit = query.limit ?? 20;
      const rows = await repo.listActiveSessions(caller.user.id, limit + 1, decodeCursor(query.cursor, isString));
      return toPage(
        rows,
        limit,
        (row) => row.id,
        (row) => ({
          id: row.id,
          userAgent: row.userAgent,
          ip: row.ip,
          createdAt: row.createdAt.toISOString(),
          lastSeenAt: row.lastSeenAt.toISOString(),
          expiresAt: row.expiresAt.toISOString(),
          current: row.id === caller.sessionId,
        }),
      );
    },

    /** Another user's session is a 404, like any resource of theirs. */
    async end(caller: UserCaller, sessionId: string): Promise<void> {
      if (!(await sessions.revokeSession(sessionId, caller.user.id))) throw notFound('Session');
    },

    async logout(caller: UserCaller): Promise<void> {
      if (!caller.sessionId || !caller.tokenId || caller.tokenExpiresAt === null) {
        // Revoking takes a signed-in session too (an API key cannot manage keys): say so.
        throw forbidden('API keys do not log out; sign in, then revoke the key with DELETE /api/v1/auth/api-keys/:id from that session');
      }
      await sessions.revokeSession(caller.sessionId);
    },

    async logoutAll(caller: UserCaller): Promise<void> {
      await sessions.revokeAllSessions(caller.user.id);
    },
  };
}
