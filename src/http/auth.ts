import { Elysia } from 'elysia';
import type { CredentialKind, Role, Tier } from '../config/vocabulary.ts';
import type { AuditTrail } from './audit-trail.ts';
import { forbidden, unauthorized } from './errors.ts';
import { requestInfo } from './request-context.ts';

/** The caller's user as this request read it (with its session or key, in one query). */
export type CallerUser = {
  id: string;
  role: Role;
  tier: Tier;
  email: string | null;
  name: string | null;
  emailVerified: boolean;
  createdAt: Date;
};

/** Who is calling, as the auth module resolved it from the request's credentials. */
export type Caller = {
  user: CallerUser | null;
  /** Role admin, or a valid X-Admin-Key. */
  isAdmin: boolean;
  via: CredentialKind;
  sessionId: string | null;
  tokenId: string | null;
  /** The access token's `exp`, in seconds since the epoch. */
  tokenExpiresAt: number | null;
  apiKeyId: string | null;
  /** The API key's expiry, in milliseconds since the epoch (null: none, or not a key). */
  apiKeyExpiresAtMs: number | null;
  /**
   * What the key's owner allowed it, as its row read on this request (so a change applies to the
   * next call on every instance); absent or null when the caller is not an API key.
   */
  apiKeyGrant?: ApiKeyGrant | null;
};

/**
 * The limits an API key carries (see the auth module's api-keys.ts), each null when not limited:
 * the models it may call (`provider/model` ids or globs), LLM calls and tokens per minute, and
 * tokens per calendar month (UTC). The reply engine's limits enforce them.
 */
export type ApiKeyGrant = {
  id: string;
  allowedModels: readonly string[] | null;
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  monthlyTokenBudget: number | null;
};

export type UserCaller = Caller & { user: CallerUser };

/** Reads credentials; null when none were sent; throws 401/403 for bad or refused ones. */
export type CallerResolver = (request: Request) => Promise<Caller | null>;

/** An access token or API key as a bearer token, or an API key in `x-api-key` (Anthropic's clients). */
const bearer: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];
/** The `session` scheme: a signed-in session's access token, not an API key (see Credentials). */
const session = [{ session: [] }];

/**
 * Who may call an operation, as the OpenAPI document says it (`x-access`), so a client (and the
 * shared security test) can tell a member-only or admin-only route from one any signed-in user
 * may call: `user` (guests included), `member`, `admin` or `optional`.
 */
export type Access = 'user' | 'member' | 'admin' | 'optional';
const access = (level: Access) => ({ 'x-access': level });

/**
 * Which credentials an `auth` or `member` route takes: `true`, an access token or an API key;
 * `'session'`, only the access token of a signed-in session (an API key is 403). Routes that manage
 * credentials (API keys, sessions, the password) are `'session'`: a leaked key must not mint keys
 * that outlive it, end its owner's sessions or lock its owner out. The OpenAPI document says it by
 * the operation's security scheme (`session` instead of `bearer`).
 */
export type Credentials = true | 'session';

/**
 * Route options that say who may call: `auth` (any signed-in user, guests included), `member`
 * (a registered user), `admin` (role admin or X-Admin-Key), `optionalAuth` (anyone; the caller
 * when credentials were sent). Each resolves `caller` for the handler. `auth` and `member` take
 * `true` or `'session'` (see Credentials).
 *
 * And `audit: '<action>'`, which every admin route that changes something carries: once its
 * handler succeeds, an entry naming the action, the caller, and where the call came from is
 * written through `trail` (see audit-trail.ts) before the response leaves. The handler receives
 * `audit` to add the target and the change (`audit.note({ target, before, after })`). The
 * OpenAPI document names the action (`x-audit`).
 */
export function authGuard(resolveCaller: CallerResolver, trail: AuditTrail) {
  const identify = async (request: Request) => {
    const caller = await resolveCaller(request);
    const info = requestInfo(request);
    if (info && caller?.user) info.userId = caller.user.id;
    return caller;
  };
  const requireUser = async (request: Request): Promise<UserCaller> => {
    const caller = await identify(request);
    if (!caller?.user) throw unauthorized();
    return caller as UserCaller;
  };
  const requireCredentials = (caller: UserCaller, credentials: Credentials): UserCaller => {
    if (credentials === 'session' && caller.via !== 'token') {
      throw forbidden('An API key cannot manage keys, sessions or the password: sign in to do this');
    }
    return caller;
  };
  const securityOf = (credentials: Credentials) => ({ security: credentials === 'session' ? session : bearer });
  // Who is calling is settled in the transform phase, before the body is validated: a caller
  // without credentials gets 401, never a 422 that describes the route's schema. The handler's
  // `caller` is that same answer.
  const settled = new WeakMap<Request, Caller | null>();
  const settle = (check: (request: Request) => Promise<Caller | null>) => ({
    async transform({ request }: { request: Request }) {
      settled.set(request, await check(request));
    },
  });
  const settledCaller = (request: Request) => settled.get(request) ?? null;

  return new Elysia({ name: 'auth-guard' }).macro({
    auth: (credentials: Credentials) => ({
      detail: { ...securityOf(credentials), ...access('user') },
      ...settle(async (request) => requireCredentials(await requireUser(request), credentials)),
      resolve: ({ request }: { request: Request }) => ({ caller: settledCaller(request) as UserCaller }),
    }),
    member: (credentials: Credentials) => ({
      detail: { ...securityOf(credentials), ...access('member') },
      ...settle(async (request) => {
        const caller = await requireUser(request);
        if (caller.user.role === 'guest') throw forbidden('Register an account to use this');
        return requireCredentials(caller, credentials);
      }),
      resolve: ({ request }: { request: Request }) => ({ caller: settledCaller(request) as UserCaller }),
    }),
    admin: {
      detail: { security: [...bearer, { adminKey: [] }], ...access('admin') },
      ...settle(async (request) => {
        const caller = await identify(request);
        if (!caller) throw unauthorized();
        if (!caller.isAdmin) throw forbidden('Admin only');
        return caller;
      }),
      resolve: ({ request }) => ({ caller: settledCaller(request) as Caller }),
    },
    audit: (action: string) => ({
      // Typed as idempotency.ts types its `x-idempotent`: Elysia's detail type takes no free-form string extension.
      detail: { 'x-audit': action } as never,
      resolve: ({ request }: { request: Request }) => ({ audit: trail.handle(request) }),
      async afterHandle({ request, route, server, set }) {
        await trail.record({ action, request, caller: settledCaller(request), route, server, status: set.status });
      },
    }),
    optionalAuth: {
      detail: { security: [{}, ...bearer], ...access('optional') },
      // An admin key alone names no user: for these routes that is no caller at all.
      ...settle(async (request) => {
        const caller = await identify(request);
        return caller?.user ? caller : null;
      }),
      resolve: ({ request }) => ({ caller: settledCaller(request) as UserCaller | null }),
    },
  });
}

export type AuthGuard = ReturnType<typeof authGuard>;
