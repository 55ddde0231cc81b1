import { AppError } from '../../http/errors.ts';
import { callerSubject, resetSeconds as secondsUntilReset } from '../../http/rate-limit.ts';
import type { Infra } from '../../infra/index.ts';
import { KvUnavailableError } from '../../infra/kv/errors.ts';
import type { LimitWindow, WindowsVerdict } from '../../infra/kv/types.ts';

type Window = 'perMinute' | 'perHour' | 'perDay';
const windows: { name: Window; ms: number }[] = [
  { name: 'perMinute', ms: 60_000 },
  { name: 'perHour', ms: 3_600_000 },
  { name: 'perDay', ms: 86_400_000 },
];

export type LlmLimitStatus = {
  limits: Record<Window, number>;
  remaining: Record<Window, number>;
  /** Seconds until each window starts afresh. */
  resetSeconds: Record<Window, number>;
};

/**
 * LLM calls per user (guests per IP) per minute, hour and day, counted in KV so every instance
 * shares them. One atomic KV operation checks the three windows and charges all of them or none:
 * a call refused by one window costs nothing in the others, so what GET /rate-limit reports as
 * used is exactly the calls admitted. A KV that is unreachable refuses the call (503, before
 * anything is stored): a reply streams through its buffer in KV, so it could not run anyway. Any
 * other failure to count lets the call through (logged).
 */
export function createLlmLimits({ config, kv, log }: Pick<Infra, 'config' | 'kv' | 'log'>) {
  const limits: Record<Window, number> = {
    perMinute: config.rateLimit.llmPerMinute,
    perHour: config.rateLimit.llmPerHour,
    perDay: config.rateLimit.llmPerDay,
  };
  const key = (subject: string, window: Window) => `ratelimit:llm:${window}:${subject}`;
  const windowsOf = (subject: string): LimitWindow[] =>
    windows.map((w) => ({ key: key(subject, w.name), limit: limits[w.name], ttlMs: w.ms }));

  const toStatus = (verdict: WindowsVerdict): LlmLimitStatus => {
    const remaining = {} as Record<Window, number>;
    const resetSeconds = {} as Record<Window, number>;
    windows.forEach((w, i) => {
      remaining[w.name] = verdict.windows[i]!.remaining;
      resetSeconds[w.name] = secondsUntilReset(verdict.windows[i]!.resetMs);
    });
    return { limits, remaining, resetSeconds };
  };

  return {
    /** Counts one LLM call in every window, or throws 429 naming the full window(s) and counts nothing (KvUnavailableError while the KV is away). */
    async consume(subject: string): Promise<void> {
      if (kv.status() !== 'ok') throw new KvUnavailableError('admit an LLM call');
      if (!config.rateLimit.enabled) return;
      let verdict: WindowsVerdict;
      try {
        verdict = await kv.consumeWindows(windowsOf(subject));
      } catch (error) {
        if (error instanceof KvUnavailableError) throw error;
        log.warn('llm rate limit unavailable: letting the call through', { error: (error as Error).message });
        return;
      }
      if (verdict.admitted) return;
      const { resetSeconds } = toStatus(verdict);
      const refused = windows.filter((_, i) => !verdict.windows[i]!.allowed);
      const retryAfter = Math.max(...refused.map((w) => resetSeconds[w.name]), 1);
      throw new AppError('rate_limited', `LLM call limit reached (${refused.map((w) => w.name).join(', ')}); retry in ${retryAfter} s`, {
        headers: { 'retry-after': String(retryAfter) },
      });
    },
    /** The limits and what is left of them, counting nothing. */
    peek: async (subject: string): Promise<LlmLimitStatus> => toStatus(await kv.peekWindows(windowsOf(subject))),
  };
}

export type LlmLimits = ReturnType<typeof createLlmLimits>;

/** Whose budget a call spends: the user, or for guests the address they come from. */
export function llmSubject(user: { id: string; role: string }, ip: string): string {
  return callerSubject(user, ip);
}
