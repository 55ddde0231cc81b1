import { type LimitTier, limitTier } from '../../config/index.ts';
import type { ApiKeyGrant } from '../../http/auth.ts';
import { AppError, invalid } from '../../http/errors.ts';
import { callerSubject, resetSeconds as secondsUntilReset } from '../../http/rate-limit.ts';
import type { Infra } from '../../infra/index.ts';
import { KvUnavailableError } from '../../infra/kv/errors.ts';
import type { LimitWindow, WindowsVerdict } from '../../infra/kv/types.ts';
import type { KeyLimits } from './key-limits.ts';

type Window = 'perMinute' | 'perHour' | 'perDay';
const windows: { name: Window; ms: number }[] = [
  { name: 'perMinute', ms: 60_000 },
  { name: 'perHour', ms: 3_600_000 },
  { name: 'perDay', ms: 86_400_000 },
];

/**
 * Who is calling, as far as the limits care: the budget subject, the user (for tokens) and their
 * tier; and, for a call made with an API key, what its owner allowed it (key-limits.ts).
 */
export type LimitCaller = { user: { id: string; role: string; tier: string }; ip: string; apiKey?: ApiKeyGrant | null };

export type TokenBudgetStatus = {
  /** Tokens (input + output) allowed per calendar month (UTC); 0 = unlimited. */
  limit: number;
  used: number;
  /** null when unlimited. */
  remaining: number | null;
  /** When the month starts afresh: the 1st of next month, 00:00 UTC. */
  resetsAt: string;
};

/** Replies the caller has generating at once, against their tier's limit (0 = unlimited). */
export type ConcurrencyStatus = { limit: number; active: number; remaining: number | null };

/**
 * A place among the caller's replies generating at once: a KV lease (crash-safe: a holder that
 * dies stops renewing and the place frees itself within three heartbeats). Whoever starts the
 * reply claims it; it is renewed with the reply's heartbeat and released before the reply's last
 * event, so a client that saw `done` may send again at once.
 */
export type ReplySlot = {
  readonly claimed: boolean;
  /** The running reply owns the slot now: an error in the request after this does not free it. */
  claim(): void;
  renew(): Promise<void>;
  /** Frees the place; later calls (and renewals) do nothing. */
  release(): Promise<void>;
};

export type LlmLimitStatus = {
  tier: LimitTier;
  concurrent: ConcurrencyStatus;
  /** 0 = unlimited. */
  limits: Record<Window, number>;
  /** null for an unlimited window. */
  remaining: Record<Window, number | null>;
  /** Seconds until each window starts afresh. */
  resetSeconds: Record<Window, number>;
  tokens: TokenBudgetStatus;
};

/** The first instant of the next calendar month, UTC. */
export function nextMonthStart(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/**
 * LLM calls per user (guests per IP, IPv6 per /64) per minute, hour and day, and tokens per
 * calendar month, by the caller's tier (config.rateLimit.tiers). The tier is read from the
 * caller, which auth resolves from the user's row on every request, so an admin's tier change
 * applies to the next call on every instance. Windows are counted in KV so every instance shares
 * them; one atomic KV operation checks them and charges all or none. Tokens are not counted
 * apart: each call sums this month's usage records (`monthTokens`), so the budget is exactly what
 * was recorded; a call over the budget is refused (429 `quota_exceeded`) before any window is
 * charged. A KV that is unreachable refuses the call (503, before anything is stored). Any other
 * failure to count lets the call through (logged).
 */
export function createLlmLimits(
  { config, kv, log }: Pick<Infra, 'config' | 'kv' | 'log'>,
  monthTokens: (userId: string) => Promise<number>,
  keys: KeyLimits,
) {
  const key = (subject: string, window: Window) => `ratelimit:llm:${window}:${subject}`;
  const activeKey = (caller: LimitCaller) => `replies:active:${subjectOf(caller)}`;
  const leaseMs = config.replyHeartbeatMs * 3;

  /** Takes a place among the caller's concurrent replies, or throws 429 `rate_limited` when their tier's are all taken. */
  const takeSlot = async (caller: LimitCaller): Promise<ReplySlot> => {
    const limit = tierLimits(caller).concurrentReplies;
    const slotKey = activeKey(caller);
    const member = crypto.randomUUID();
    const verdict = await kv.acquireLease(slotKey, member, { limit, ttlMs: leaseMs });
    if (!verdict.acquired) {
      throw new AppError(
        'rate_limited',
        `${verdict.held} replies are already being generated, the most the ${limitTier(caller.user)} tier allows at once; wait for one to finish or cancel it`,
        { headers: { 'retry-after': '1' } },
      );
    }
    let claimed = false;
    let released = false;
    return {
      get claimed() {
        return claimed;
      },
      claim() {
        claimed = true;
      },
      async renew() {
        // Re-taken without a limit: a lease that lapsed during a stall still belongs to this reply.
        if (!released) await kv.acquireLease(slotKey, member, { limit: 0, ttlMs: leaseMs });
      },
      async release() {
        if (released) return;
        released = true;
        await kv.releaseLease(slotKey, member).catch((error) => {
          // It frees itself when the lease expires.
          log.warn('could not release a reply slot', { error: (error as Error).message });
        });
      },
    };
  };
  /** The key's window alone (tier limits off): charged, or 429 naming the key's limit. */
  const consumeKeyWindow = async (grant: ApiKeyGrant, window: LimitWindow) => {
    const verdict = await kv.consumeWindows([window]);
    if (!verdict.admitted) throw keys.requestRefusal(grant, verdict.windows[0]!.resetMs);
  };
  const subjectOf = (caller: LimitCaller) => callerSubject(caller.user, caller.ip);
  const tierLimits = (caller: LimitCaller) => config.rateLimit.tiers[limitTier(caller.user)];
  /** The counted windows: an unlimited one (0) is not counted. */
  const windowsOf = (caller: LimitCaller) => {
    const limits = tierLimits(caller);
    const subject = subjectOf(caller);
    return windows
      .filter((w) => limits[w.name] > 0)
      .map((w) => ({ name: w.name, window: { key: key(subject, w.name), limit: limits[w.name], ttlMs: w.ms } satisfies LimitWindow }));
  };

  const tokenStatus = async (caller: LimitCaller, now = new Date()): Promise<TokenBudgetStatus> => {
    const limit = tierLimits(caller).tokensPerMonth;
    const used = await monthTokens(caller.user.id);
    return { limit, used, remaining: limit === 0 ? null : Math.max(0, limit - used), resetsAt: nextMonthStart(now).toISOString() };
  };

  const toStatus = (
    caller: LimitCaller,
    counted: ReturnType<typeof windowsOf>,
    verdict: WindowsVerdict,
    tokens: TokenBudgetStatus,
    active: number,
  ): LlmLimitStatus => {
    const limits = tierLimits(caller);
    const remaining = { perMinute: null, perHour: null, perDay: null } as Record<Window, number | null>;
    const concurrent = {
      limit: limits.concurrentReplies,
      active,
      remaining: limits.concurrentReplies === 0 ? null : Math.max(0, limits.concurrentReplies - active),
    };
    const resetSeconds = { perMinute: 0, perHour: 0, perDay: 0 } as Record<Window, number>;
    counted.forEach((w, i) => {
      remaining[w.name] = verdict.windows[i]!.remaining;
      resetSeconds[w.name] = secondsUntilReset(verdict.windows[i]!.resetMs);
    });
    return {
      tier: limitTier(caller.user),
      concurrent,
      limits: { perMinute: limits.perMinute, perHour: limits.perHour, perDay: limits.perDay },
      remaining,
      resetSeconds,
      tokens,
    };
  };

  return {
    /**
     * Counts one LLM call in every window of the caller's tier (and its API key's), or throws and
     * counts nothing: 403 `forbidden` when the caller's key may not use `model`; 429
     * `quota_exceeded` when this month's tokens (the tier's or the key's) are spent; 429
     * `rate_limited` naming the full window(s), the key's calls or tokens per minute, or, for a
     * `reply`, when the tier's concurrent replies are all generating; KvUnavailableError while the
     * KV is away. For a `reply`, the place it took (null while limits are off), which the caller
     * must hand to the reply or release. A key's limits hold even with RATE_LIMIT_ENABLED off.
     */
    async consume(
      caller: LimitCaller,
      options: { reply?: boolean; model?: { provider: string; model: string } } = {},
    ): Promise<ReplySlot | null> {
      const grant = caller.apiKey ?? null;
      if (grant && options.model) keys.checkModel(grant, options.model);
      if (kv.status() !== 'ok') throw new KvUnavailableError('admit an LLM call');
      if (grant) await keys.checkTokens(grant);
      const keyWindow = grant ? keys.requestWindow(grant) : null;
      if (!config.rateLimit.enabled) {
        if (keyWindow) await consumeKeyWindow(grant!, keyWindow);
        return null;
      }
      const budget = tierLimits(caller).tokensPerMonth;
      if (budget > 0) {
        const now = new Date();
        const used = await monthTokens(caller.user.id);
        if (used >= budget) {
          const resetsAt = nextMonthStart(now);
          const retryAfter = Math.max(1, Math.ceil((resetsAt.getTime() - now.getTime()) / 1000));
          throw new AppError(
            'quota_exceeded',
            `Monthly token budget of ${budget} tokens spent (${used} used); it resets at ${resetsAt.toISOString()}`,
            { headers: { 'retry-after': String(retryAfter) } },
          );
        }
      }
      const slot = options.reply ? await takeSlot(caller) : null;
      const counted: { name: Window | 'apiKey'; window: LimitWindow }[] = windowsOf(caller);
      if (keyWindow) counted.push({ name: 'apiKey', window: keyWindow });
      if (counted.length === 0) return slot;
      let verdict: WindowsVerdict;
      try {
        verdict = await kv.consumeWindows(counted.map((w) => w.window));
      } catch (error) {
        if (error instanceof KvUnavailableError) {
          await slot?.release();
          throw error;
        }
        log.warn('llm rate limit unavailable: letting the call through', { error: (error as Error).message });
        return slot;
      }
      if (verdict.admitted) return slot;
      await slot?.release();
      // The key's own limit is named first: it is the one its owner can change.
      const keyVerdict = keyWindow ? verdict.windows[counted.length - 1]! : undefined;
      if (keyVerdict && !keyVerdict.allowed) throw keys.requestRefusal(grant!, keyVerdict.resetMs);
      const refused = counted.filter((_, i) => !verdict.windows[i]!.allowed);
      const retryAfter = Math.max(...refused.map((w) => secondsUntilReset(verdict.windows[counted.indexOf(w)]!.resetMs)), 1);
      throw new AppError('rate_limited', `LLM call limit reached (${refused.map((w) => w.name).join(', ')}); retry in ${retryAfter} s`, {
        headers: { 'retry-after': String(retryAfter) },
      });
    },
    /**
     * Checks, counting nothing, that `replies` replies started now would all be admitted (a
     * request answered by several: OpenAI's `n`), so such a request is refused whole before any
     * of them is charged: 422 `validation_error` on `field` when the tier never generates that many
     * at once; 429 `rate_limited` when a window (the tier's or the key's) has no room for all of
     * them or the tier's places are taken. Each reply is then admitted by `consume` as usual; a
     * call from elsewhere between the two may still refuse one of them.
     */
    async roomFor(caller: LimitCaller, replies: number, field: string): Promise<void> {
      const grant = caller.apiKey ?? null;
      const keyWindow = grant ? keys.requestWindow(grant) : null;
      const counted: LimitWindow[] = [
        ...(config.rateLimit.enabled ? windowsOf(caller).map((w) => w.window) : []),
        ...(keyWindow ? [keyWindow] : []),
      ];
      if (counted.length > 0) {
        const verdict = await kv.peekWindows(counted, { by: replies });
        if (!verdict.admitted) {
          const keyVerdict = keyWindow ? verdict.windows[counted.length - 1]! : undefined;
          if (keyVerdict && !keyVerdict.allowed) throw keys.requestRefusal(grant!, keyVerdict.resetMs);
          const retryAfter = Math.max(1, ...verdict.windows.filter((w) => !w.allowed).map((w) => secondsUntilReset(w.resetMs)));
          throw new AppError('rate_limited', `LLM call limit has no room for ${replies} calls; retry in ${retryAfter} s`, {
            headers: { 'retry-after': String(retryAfter) },
          });
        }
      }
      if (!config.rateLimit.enabled) return;
      const limit = tierLimits(caller).concurrentReplies;
      if (limit === 0) return;
      if (replies > limit)
        throw invalid(field, `asks for ${replies} replies at once; the ${limitTier(caller.user)} tier generates at most ${limit} at once`);
      const active = await kv.countLeases(activeKey(caller));
      if (active + replies > limit) {
        throw new AppError(
          'rate_limited',
          `${active} of the ${limit} replies the ${limitTier(caller.user)} tier generates at once are taken; ${replies} do not fit`,
          {
            headers: { 'retry-after': '1' },
          },
        );
      }
    },
    /** The limits of the caller's tier and what is left of them, counting nothing. */
    async peek(caller: LimitCaller): Promise<LlmLimitStatus> {
      const counted = windowsOf(caller);
      const [verdict, tokens, active] = await Promise.all([
        counted.length ? kv.peekWindows(counted.map((w) => w.window)) : Promise.resolve({ admitted: true, windows: [] } as WindowsVerdict),
        tokenStatus(caller),
        kv.countLeases(activeKey(caller)),
      ]);
      return toStatus(caller, counted, verdict, tokens, active);
    },
  };
}

export type LlmLimits = ReturnType<typeof createLlmLimits>;
