import { Elysia } from 'elysia';
import type { KeyValueStore, RateLimitHit } from '../infra/kv/types.ts';
import type { Logger } from '../infra/log/index.ts';
import { clientIp } from './client-ip.ts';
import { AppError } from './errors.ts';

export type RateLimitOptions = {
  kv: KeyValueStore;
  /** Names the budget: key `ratelimit:<name>:<ip>`, plugin `rate-limit:<name>`. Limiters with different names stack. */
  name: string;
  max: number;
  windowMs: number;
  enabled: boolean;
  trustProxy: boolean;
  /** Told (at most once a minute per store) when the store fails and requests are let through. */
  log: Logger;
};

/** `RateLimit-*` response headers (lower-case, as Elysia's `set.headers` keeps them) for a hit. */
export function rateLimitHeaders(hit: Pick<RateLimitHit, 'remaining' | 'resetMs'>, max: number): Record<string, string> {
  return {
    'ratelimit-limit': String(max),
    'ratelimit-remaining': String(Math.max(0, hit.remaining)),
    'ratelimit-reset': String(resetSeconds(hit.resetMs)),
  };
}

/** Whole seconds until the window resets, rounded up. */
export function resetSeconds(resetMs: number): number {
  return Math.max(0, Math.ceil(resetMs / 1000));
}

const warnEveryMs = 60_000;
// Per store, so a Redis outage is one warning a minute, however many limiters share the store.
const lastWarned = new WeakMap<KeyValueStore, number>();

/**
 * A fixed-window limit per client IP on the routes of the instance that `.use()`s it (a scoped
 * hook: not the routes of its parent, not sibling modules; only routes added after the `.use`).
 * Every limited response carries `RateLimit-Limit/-Remaining/-Reset`; past the limit it is 429
 * `rate_limited` with `Retry-After`. If the store fails, the request goes through (fail open).
 */
export function rateLimit(options: RateLimitOptions) {
  const { kv, name, max, windowMs, enabled, trustProxy, log } = options;
  const plugin = new Elysia({ name: `rate-limit:${name}` });
  if (!enabled) return plugin;

  // In the transform phase: before authentication and body validation, so every request counts.
  return plugin.onTransform({ as: 'scoped' }, async (context) => {
    const { request, server, set } = context;
    // The route bundle derives `ip` once per request; a limiter used on its own works it out.
    const ip = (context as { ip?: string }).ip ?? clientIp(request, server, trustProxy);

    let hit: RateLimitHit;
    try {
      hit = await kv.hitRateLimit(`ratelimit:${name}:${ip}`, max, windowMs);
    } catch (error) {
      const now = Date.now();
      if (now - (lastWarned.get(kv) ?? 0) >= warnEveryMs) {
        lastWarned.set(kv, now);
        log.warn('rate limit store unavailable: letting requests through', { limiter: name, error });
      }
      return;
    }

    const headers = rateLimitHeaders(hit, max);
    if (hit.allowed) {
      // Several limiters on one route: the response shows the one closest to refusing.
      const shown = Number(set.headers['ratelimit-remaining'] ?? Number.POSITIVE_INFINITY);
      if (hit.remaining <= shown) Object.assign(set.headers, headers);
      return;
    }
    const retryAfter = Math.max(1, resetSeconds(hit.resetMs));
    Object.assign(set.headers, headers);
    throw new AppError('rate_limited', `Too many requests, retry in ${retryAfter} s`, {
      headers: { ...headers, 'retry-after': String(retryAfter) },
    });
  });
}
