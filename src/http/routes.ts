import { Elysia } from 'elysia';
import type { AuthGuard } from './auth.ts';
import { clientIp } from './client-ip.ts';
import type { Idempotency } from './idempotency.ts';
import type { Limits } from './limits.ts';

/**
 * The request plumbing every API module starts with, resolved once per request:
 * `ip` (the caller's address, see client-ip.ts), the general per-IP limit, and the auth macros
 * (`auth`, `member`, `admin`, `optionalAuth`) that resolve `caller`. A route without an auth
 * option is public; one with `auth: true` is for signed-in callers. API routes also get
 * `idempotent` (idempotency.ts): a POST that creates something honours Idempotency-Key with it.
 */
export function createRouteBundle({
  guard,
  limits,
  trustProxy,
  idempotency,
}: {
  guard: AuthGuard;
  limits: Limits;
  trustProxy: boolean;
  idempotency: Idempotency;
}) {
  const ip = new Elysia({ name: 'client-ip' }).derive({ as: 'scoped' }, ({ request, server }) => ({
    ip: clientIp(request, server, trustProxy),
  }));
  return {
    /** Public and signed-in routes alike: client IP, general limit, auth macros, then `idempotent` (it needs the caller). */
    api: () => new Elysia({ name: 'api-routes' }).use(ip).use(limits.general()).use(guard).use(idempotency).as('scoped'),
    /** Login, register and the password-reset pair: client IP and the stricter auth limit. */
    credentials: () => new Elysia({ name: 'credential-routes' }).use(ip).use(limits.auth()).use(guard).as('scoped'),
    /** Only the client IP (for routes with a budget of their own, such as websockets). */
    ip: () => new Elysia({ name: 'ip-only' }).use(ip).as('scoped'),
  };
}

export type RouteBundle = ReturnType<typeof createRouteBundle>;
