import { AppError } from '../../http/errors.ts';
import { resetSeconds as secondsUntilReset } from '../../http/rate-limit.ts';
import type { Infra } from '../../infra/index.ts';

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
 * shares them. If KV cannot count, calls are let through (logged) rather than refused.
 */
export function createLlmLimits({ config, kv, log }: Pick<Infra, 'config' | 'kv' | 'log'>) {
  const limits: Record<Window, number> = {
    perMinute: config.rateLimit.llmPerMinute,
    perHour: config.rateLimit.llmPerHour,
    perDay: config.rateLimit.llmPerDay,
  };
  const key = (subject: string, window: Window) => `ratelimit:llm:${window}:${subject}`;

  const status = async (subject: string, count: boolean): Promise<LlmLimitStatus> => {
    const hits = await Promise.all(
      windows.map((w) =>
        count ? kv.hitRateLimit(key(subject, w.name), limits[w.name], w.ms) : kv.peekRateLimit(key(subject, w.name), limits[w.name], w.ms),
      ),
    );
    const remaining = {} as Record<Window, number>;
    const resetSeconds = {} as Record<Window, number>;
    windows.forEach((w, i) => {
      remaining[w.name] = hits[i]!.remaining;
      resetSeconds[w.name] = secondsUntilReset(hits[i]!.resetMs);
    });
    const refused = windows.map((w, i) => ({ w, hit: hits[i]! })).filter(({ hit }) => !hit.allowed);
    if (count && refused.length > 0) {
      const retryAfter = Math.max(...refused.map(({ w }) => resetSeconds[w.name]), 1);
      throw new AppError(
        'rate_limited',
        `LLM call limit reached (${refused.map(({ w }) => w.name).join(', ')}); retry in ${retryAfter} s`,
        {
          headers: { 'retry-after': String(retryAfter) },
        },
      );
    }
    return { limits, remaining, resetSeconds };
  };

  return {
    /** Counts one LLM call, or throws 429 when any window is spent. */
    async consume(subject: string): Promise<void> {
      if (!config.rateLimit.enabled) return;
      try {
        await status(subject, true);
      } catch (error) {
        if (error instanceof AppError) throw error;
        log.warn('llm rate limit unavailable: letting the call through', { error: (error as Error).message });
      }
    },
    peek: (subject: string) => status(subject, false),
  };
}

export type LlmLimits = ReturnType<typeof createLlmLimits>;

/** Whose budget a call spends: the user, or for guests the address they come from. */
export function llmSubject(user: { id: string; role: string }, ip: string): string {
  return user.role === 'guest' ? `ip:${ip}` : `user:${user.id}`;
}
