import { Elysia } from 'elysia';
import type { Role, Tier } from '../config/vocabulary.ts';
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
  via: 'token' | 'apiKey' | 'adminKey';
  sessionId: string | null;
  tokenId: string | null;
  /** The access token's `exp`, in seconds since the epoch. */
  tokenExpiresAt: number | null;
  apiKeyId: string | null;
};

export type UserCaller = Caller & { user: CallerUser };

/** Reads credentials; null when none were sent; throws 401/403 for bad or refused ones. */
export type CallerResolver = (request: Request) => Promise<Caller | null>;

const bearer = [{ bearer: [] }];

/**
 * Route options that say who may call: `auth` (any signed-in user, guests included), `member`
 * (a registered user), `admin` (role admin or X-Admin-Key), `optionalAuth` (anyone; the caller
 * when credentials were sent). Each resolves `caller` for the handler.
 */
export function authGuard(resolveCaller: CallerResolver) {
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
  return new Elysia({ name: 'auth-guard' }).macro({
    auth: {
      detail: { security: bearer },
      async resolve({ request }) {
        return { caller: await requireUser(request) };
      },
    },
    member: {
      detail: { security: bearer },
      async resolve({ request }) {
        const caller = await requireUser(request);
        if (caller.user.role === 'guest') throw forbidden('Register an account to use this');
        return { caller };
      },
    },
    admin: {
      detail: { security: [{ bearer: [] }, { adminKey: [] }] },
      async resolve({ request }) {
        const caller = await identify(request);
        if (!caller) throw unauthorized();
        if (!caller.isAdmin) throw forbidden('Admin only');
        return { caller };
      },
    },
    optionalAuth: {
      detail: { security: [{}, ...bearer] },
      async resolve({ request }) {
        // An admin key alone names no user: for these routes that is no caller at all.
        const caller = await identify(request);
        return { caller: caller?.user ? (caller as UserCaller) : null };
      },
    },
  });
}

export type AuthGuard = ReturnType<typeof authGuard>;
