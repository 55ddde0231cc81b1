import { Elysia } from 'elysia';
import type { KeyValueStore, RateLimitHit } from '../infra/kv/types.ts';
import type { Logger } from '../infra/log/index.ts';
import { clientIp, ipBudgetKey } from './client-ip.ts';
import { AppError } from './errors.ts';

/** One per-IP budget: `max` requests per fixed window of `windowMs`, counted under `ratelimit:<name>:<ip>` (IPv6 per /64: ipBudgetKey). */
export type RateLimitBudget = { name: string; max: number; windowMs: number };

export type RateLimitOptions = RateLimitBudget & {
  kv: KeyValueStore;
  /**
   * Further budgets the same requests spend, checked and charged together with this one in one
   * atomic KV operation: a request refused by any of them is charged to none. Give one limiter
   * every budget of its routes rather than stacking limiters, which charge one after the other.
   */
  with?: RateLimitBudget[];
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
// Which limiter charged a request, to tell when two are stacked on one route (see `with`).
const chargedBy = new WeakMap<Request, string>();
const stackWarned = new Set<string>();

/** The KV window of a per-IP budget (IPv6 per /64). */
const ipWindow = (budget: RateLimitBudget, ip: string) => ({
  key: `ratelimit:${budget.name}:${ipBudgetKey(ip)}`,
  limit: budget.max,
  ttlMs: budget.windowMs,
});

/** What is left of a per-IP budget for `ip` (as `rateLimit` counts it), charging nothing; the whole budget when the KV cannot say. */
export async function peekIpBudget(kv: KeyValueStore, budget: RateLimitBudget, ip: string): Promise<CallerLimitStatus> {
  const hit = await kv
    .peekWindows([ipWindow(budget, ip)])
    .then((verdict) => verdict.windows[0]!)
    .catch(() => ({ remaining: budget.max, resetMs: budget.windowMs }));
  return { limit: budget.max, remaining: hit.remaining, reset: resetSeconds(hit.resetMs) };
}

/**
 * A fixed-window limit per client IP on the routes of the instance that `.use()`s it (a scoped
 * hook: not the routes of its parent, not sibling modules; only routes added after the `.use`),
 * over one budget or several (`with`), all charged or none. Every limited response carries
 * `RateLimit-Limit/-Remaining/-Reset` (of the budget closest to refusing); past a limit it is 429
 * `rate_limited` with `Retry-After` and the headers of the budget that refused. A refused request
 * is charged to no budget. If the store fails, the request goes through (fail open).
 */
export function rateLimit(options: RateLimitOptions) {
  const { kv, enabled, trustProxy, log } = options;
  const budgets: RateLimitBudget[] = [{ name: options.name, max: options.max, windowMs: options.windowMs }, ...(options.with ?? [])];
  const names = budgets.map((budget) => budget.name);
  if (new Set(names).size !== names.length) throw new Error(`rate limiter budgets must have distinct names: ${names.join(', ')}`);
  const label = names.join('+');
  const plugin = new Elysia({ name: `rate-limit:${label}` });
  if (!enabled) return plugin;

  // In the transform phase: before authentication and body validation, so every request counts.
  return plugin.onTransform({ as: 'scoped' }, async (context) => {
    const { request, server, set } = context;
    // The route bundle derives `ip` once per request; a limiter used on its own works it out.
    const ip = (context as { ip?: string }).ip ?? clientIp(request, server, trustProxy);

    const earlier = chargedBy.get(request);
    if (earlier !== undefined && !stackWarned.has(`${earlier}|${label}`)) {
      stackWarned.add(`${earlier}|${label}`);
      log.warn('rate limiters stacked on one route: a refusal by the later one leaves the earlier charged; give one limiter both budgets', {
        limiters: [earlier, label],
      });
    }

    let hits: RateLimitHit[];
    let admitted: boolean;
    try {
      ({ admitted, windows: hits } = await kv.consumeWindows(budgets.map((budget) => ipWindow(budget, ip))));
    } catch (error) {
      const now = Date.now();
      if (now - (lastWarned.get(kv) ?? 0) >= warnEveryMs) {
        lastWarned.set(kv, now);
        log.warn('rate limit store unavailable: letting requests through', { limiter: label, error });
      }
      return;
    }

    if (admitted) {
      chargedBy.set(request, label);
      // The budget closest to refusing is the one shown, here and across stacked limiters.
      const closest = hits.reduce((best, hit, i) => (hit.remaining < hits[best]!.remaining ? i : best), 0);
      const shown = Number(set.headers['ratelimit-remaining'] ?? Number.POSITIVE_INFINITY);
      if (hits[closest]!.remaining <= shown) Object.assign(set.headers, rateLimitHeaders(hits[closest]!, budgets[closest]!.max));
      return;
    }
    // Of the budgets that refused, the one that frees up last: retrying sooner cannot succeed.
    let refusing = -1;
    hits.forEach((hit, i) => {
      if (!hit.allowed && (refusing < 0 || hit.resetMs > hits[refusing]!.resetMs)) refusing = i;
    });
    const hit = hits[refusing]!;
    const headers = rateLimitHeaders(hit, budgets[refusing]!.max);
    const retryAfter = Math.max(1, resetSeconds(hit.resetMs));
    Object.assign(set.headers, headers);
    throw new AppError('rate_limited', `Too many requests, retry in ${retryAfter} s`, {
      headers: { ...headers, 'retry-after': String(retryAfter) },
    });
  });
}

/** Whose budget a per-caller limit charges: the user, or for guests the address they come from. */
export function callerSubject(user: { id: string; role: string }, ip: string): string {
  return user.role === 'guest' ? `ip:${ipBudgetKey(ip)}` : `user:${user.id}`;
}

export type CallerLimitOptions = {
  kv: KeyValueStore;
  log: Logger;
  enabled: boolean;
  /** The budget: `max` requests per fixed window of `windowMs`, counted under `ratelimit:<name>:<subject>`. */
  name: string;
  max: number;
  windowMs: number;
};

/** What GET /rate-limit lists of a per-caller budget. */
export type CallerLimitStatus = { limit: number; remaining: number; reset: number };

/**
 * A fixed-window budget per caller (a subject such as `user:<id>`, or `ip:<address>` for guests:
 * see `callerSubject`), checked in a route's handler once the caller is known. The route's per-IP
 * general limit (a transform hook, before authentication) has already charged the request, so a
 * request refused here still counts there. Admitted, it gives the `RateLimit-*` headers to set
 * when this budget is closer to refusing than the ones already shown; refused, it throws 429
 * `rate_limited` with `Retry-After` and charges nothing. If the store fails, the request goes
 * through (fail open, logged at most once a minute per store).
 */
export function callerLimit(options: CallerLimitOptions) {
  const { kv, log, enabled, name, max, windowMs } = options;
  const windowOf = (subject: string) => [{ key: `ratelimit:${name}:${subject}`, limit: max, ttlMs: windowMs }];
  return {
    name,
    max,
    windowMs,
    /** Charges one request to `subject`, setting the headers on `headers`; 429 when the budget is spent. */
    async consume(subject: string, headers: Record<string, unknown>): Promise<void> {
      if (!enabled) return;
      let verdict: Awaited<ReturnType<KeyValueStore['consumeWindows']>>;
      try {
        verdict = await kv.consumeWindows(windowOf(subject));
      } catch (error) {
        const now = Date.now();
        if (now - (lastWarned.get(kv) ?? 0) >= warnEveryMs) {
          lastWarned.set(kv, now);
          log.warn('rate limit store unavailable: letting requests through', { limiter: name, error });
        }
        return;
      }
      const hit = verdict.windows[0]!;
      const own = rateLimitHeaders(hit, max);
      if (verdict.admitted) {
        const shown = Number(headers['ratelimit-remaining'] ?? Number.POSITIVE_INFINITY);
        if (hit.remaining <= shown) Object.assign(headers, own);
        return;
      }
      const retryAfter = Math.max(1, resetSeconds(hit.resetMs));
      Object.assign(headers, own);
      throw new AppError('rate_limited', `Too many ${name} requests, retry in ${retryAfter} s`, {
        headers: { ...own, 'retry-after': String(retryAfter) },
      });
    },
    /** The budget and what `subject` has left of it, charging nothing (a fresh window while limits are off). */
    async peek(subject: string): Promise<CallerLimitStatus> {
      if (!enabled) return { limit: max, remaining: max, reset: resetSeconds(windowMs) };
      const hit = (await kv.peekWindows(windowOf(subject))).windows[0]!;
      return { limit: max, remaining: Math.max(0, hit.remaining), reset: resetSeconds(hit.resetMs) };
    },
  };
}

export type CallerLimit = ReturnType<typeof callerLimit>;
