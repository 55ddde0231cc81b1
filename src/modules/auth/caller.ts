import type { Caller, CallerResolver, CallerUser } from '../../http/auth.ts';
import { forbidden, unauthorized } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import type { AccessTokenCodec } from './access-tokens.ts';
import { grantOf } from './key-grants.ts';
import type { AuthRepository } from './repository.ts';
import { hashSecret, safeEqual } from './secrets.ts';

export const apiKeyPrefix = 'pk_';

const callerUser = (user: CallerUser): CallerUser => ({
  id: user.id,
  role: user.role,
  tier: user.tier,
  email: user.email,
  name: user.name,
  emailVerified: user.emailVerified,
  createdAt: user.createdAt,
});
const lastSeenEveryMs = 60_000;

/**
 * Turns credentials into a Caller: `Authorization: Bearer <access token | API key>`, else an API
 * key in `x-api-key` (as Anthropic's SDKs send it), and `X-Admin-Key`. Every token request checks its session and user in the
 * database (one joined, prepared query), so a logged-out or revoked session and a disabled user
 * are refused on every instance at once, with or without Redis. (A KV blacklist of logged-out
 * token ids used to be read first; it could only repeat what this check already says, at the
 * price of a Redis round trip per request.)
 */
export function createCallerResolver(infra: Infra, repo: AuthRepository, codec: AccessTokenCodec): CallerResolver {
  const { config, kv, log } = infra;

  // Records last-seen at most once a minute per session or key, shared across instances by KV.
  // This instance remembers what it already marked, so most requests skip the KV round trip;
  // forgetting (a restart, or the map cleared when large) only costs one more KV call.
  const markedAt = new Map<string, number>();
  const throttled = async (key: string, write: () => Promise<void>) => {
    const now = Date.now();
    if (now - (markedAt.get(key) ?? 0) < lastSeenEveryMs) return;
    if (markedAt.size >= 50_000) markedAt.clear();
    markedAt.set(key, now);
    try {
      if (!(await kv.set(key, '1', { ttlMs: lastSeenEveryMs, onlyIfAbsent: true }))) return;
      await write();
    } catch (error) {
      log.debug('last-seen update skipped', { error: (error as Error).message });
    }
  };

  const fromAccessToken = async (token: string): Promise<Caller> => {
    const claims = await codec.verify(token);
    if (!claims) throw unauthorized('Invalid or expired token');
    const found = await repo.findSessionWithUser(claims.sid);
    if (!found || found.session.revokedAt || found.session.userId !== claims.sub) throw unauthorized('Session has ended');
    if (found.user.disabled) throw forbidden('This account is disabled');
    void throttled(`auth:seen:${claims.sid}`, () => repo.markSessionSeen(claims.sid));
    const { user } = found;
    return {
      user: callerUser(user),
      isAdmin: user.role === 'admin',
      via: 'token',
      sessionId: claims.sid,
      tokenId: claims.jti,
      tokenExpiresAt: claims.exp,
      apiKeyId: null,
      apiKeyExpiresAtMs: null,
    };
  };

  const fromApiKey = async (key: string): Promise<Caller> => {
    const found = await repo.findApiKeyWithUser(hashSecret(key));
    if (!found || found.key.revokedAt) throw unauthorized('Invalid API key');
    if (found.key.expiresAt && found.key.expiresAt.getTime() <= Date.now()) throw unauthorized('API key has expired');
    if (found.user.disabled) throw forbidden('This account is disabled');
    void throttled(`auth:key-used:${found.key.id}`, () => repo.touchApiKey(found.key.id));
    const { user } = found;
    return {
      user: callerUser(user),
      isAdmin: user.role === 'admin',
      via: 'apiKey',
      sessionId: null,
      tokenId: null,
      tokenExpiresAt: null,
      apiKeyId: found.key.id,
      apiKeyExpiresAtMs: found.key.expiresAt?.getTime() ?? null,
      apiKeyGrant: grantOf(found.key),
    };
  };

  return async (request) => {
    const authorization = request.headers.get('authorization');
    const adminKey = request.headers.get('x-admin-key');
    // Anthropic's clients send their key as `x-api-key`: taken for API keys only, when no Authorization header is sent.
    const headerKey = request.headers.get('x-api-key');
    let caller: Caller | null = null;
    if (authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw unauthorized('Use Authorization: Bearer <token>');
      const credential = match[1]!;
      caller = credential.startsWith(apiKeyPrefix) ? await fromApiKey(credential) : await fromAccessToken(credential);
    } else if (headerKey !== null) {
      const key = headerKey.trim();
      if (!key.startsWith(apiKeyPrefix))
        throw unauthorized('x-api-key takes a Parley API key (pk_…); send an access token as Authorization: Bearer');
      caller = await fromApiKey(key);
    }
    if (adminKey !== null) {
      if (!config.adminApiKey || !safeEqual(adminKey, config.adminApiKey)) throw unauthorized('Invalid admin key');
      caller = caller
        ? { ...caller, isAdmin: true }
        : {
            user: null,
            isAdmin: true,
            via: 'adminKey',
            sessionId: null,
            tokenId: null,
            tokenExpiresAt: null,
            apiKeyId: null,
            apiKeyExpiresAtMs: null,
          };
    }
    return caller;
  };
}
