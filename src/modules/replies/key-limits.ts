// The limits an API key's owner set on it (http/auth.ts ApiKeyGrant), beside the tier's limits in
// limits.ts. They hold whether or not RATE_LIMIT_ENABLED is on: the owner chose them.
//
// - Allowed models: checked against the resolved `provider/model` before anything is counted.
// - Requests per minute: a fixed one-minute KV window, charged in the same atomic operation as the
//   tier's windows (all or none), so it is exact across instances.
// - Tokens per minute: a KV counter per key, charged with each call's tokens when the call ends
//   (its usage is only known then). A call is admitted while the minute's count is under the
//   limit, so the calls already running when it is reached may take the minute past it; the next
//   call waits for the window to end (Retry-After). Charged for every key, limited or not, so a
//   limit set later applies at once.
// - Monthly token budget: this month's usage records of the key (api_key_usage, one SUM), as the
//   tier's budget is counted; exact for what was recorded, so in-flight calls may overshoot it.
import type { ApiKeyGrant } from '../../http/auth.ts';
import { AppError, forbidden } from '../../http/errors.ts';
import { resetSeconds } from '../../http/rate-limit.ts';
import type { Infra } from '../../infra/index.ts';
import { globToRegExp } from '../../infra/kv/glob.ts';
import type { LimitWindow } from '../../infra/kv/types.ts';
import { ollamaModelName } from '../../infra/llm/index.ts';

const minuteMs = 60_000;
const patterns = new Map<string, RegExp>();

/** A pattern compiled once (case-insensitive, `*` crosses `/`), kept while there are not too many. */
function compiled(pattern: string): RegExp {
  let regex = patterns.get(pattern);
  if (!regex) {
    if (patterns.size >= 10_000) patterns.clear();
    regex = new RegExp(globToRegExp(pattern).source, 'is');
    patterns.set(pattern, regex);
  }
  return regex;
}

/**
 * Whether a caller with `grant` may call `model` of `provider`: always without a grant or an
 * allowed list; else when `provider/model` matches one of its patterns. An Ollama model matches
 * with or without its default `:latest` tag, as Ollama itself takes them.
 */
export function keyAllowsModel(grant: ApiKeyGrant | null | undefined, provider: string, model: string): boolean {
  if (!grant?.allowedModels) return true;
  const names = provider === 'ollama' ? [model, ollamaModelName(model), model.replace(/:latest$/, '')] : [model];
  return grant.allowedModels.some((pattern) => names.some((name) => compiled(pattern).test(`${provider}/${name}`)));
}

/** The 429 headers of a key's limit: when to retry, and which limit it was. */
const refusalHeaders = (limit: number, retryAfter: number) => ({
  'retry-after': String(retryAfter),
  'ratelimit-limit': String(limit),
  'ratelimit-remaining': '0',
  'ratelimit-reset': String(retryAfter),
});

export function createKeyLimits({ kv }: Pick<Infra, 'kv'>, keyMonthTokens: (apiKeyId: string) => Promise<number>) {
  const requestsKey = (id: string) => `ratelimit:key:rpm:${id}`;
  const tokensKey = (id: string) => `ratelimit:key:tpm:${id}`;

  return {
    /** 403 `forbidden` when the key may not call this model. */
    checkModel(grant: ApiKeyGrant, model: { provider: string; model: string }): void {
      if (keyAllowsModel(grant, model.provider, model.model)) return;
      throw forbidden(
        `This API key may not use the model "${model.provider}/${model.model}"; its owner allows: ${grant.allowedModels!.join(', ')}`,
      );
    },

    /**
     * Refuses, counting nothing, a call the key's budget or token rate leaves no room for: 429
     * `quota_exceeded` (this month's tokens are spent; Retry-After until the 1st, UTC) or 429
     * `rate_limited` (this minute's tokens are spent; Retry-After until the window ends).
     */
    async checkTokens(grant: ApiKeyGrant, now = new Date()): Promise<void> {
      if (grant.monthlyTokenBudget !== null) {
        const used = await keyMonthTokens(grant.id);
        if (used >= grant.monthlyTokenBudget) {
          const resetsAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
          const retryAfter = Math.max(1, Math.ceil((resetsAt.getTime() - now.getTime()) / 1000));
          throw new AppError(
            'quota_exceeded',
            `This API key's monthly token budget of ${grant.monthlyTokenBudget} tokens is spent (${used} used); it resets at ${resetsAt.toISOString()}`,
            { headers: refusalHeaders(grant.monthlyTokenBudget, retryAfter) },
          );
        }
      }
      if (grant.tokensPerMinute !== null) {
        const window = { key: tokensKey(grant.id), limit: grant.tokensPerMinute, ttlMs: minuteMs };
        const verdict = await kv.peekWindows([window]);
        if (!verdict.admitted) {
          const retryAfter = Math.max(1, resetSeconds(verdict.windows[0]!.resetMs));
          throw new AppError(
            'rate_limited',
            `This API key's limit of ${grant.tokensPerMinute} tokens per minute is reached; retry in ${retryAfter} s`,
            { headers: refusalHeaders(grant.tokensPerMinute, retryAfter) },
          );
        }
      }
    },

    /** The key's one-minute window of calls, to be charged with the tier's windows; null when it has no such limit. */
    requestWindow(grant: ApiKeyGrant): LimitWindow | null {
      return grant.requestsPerMinute === null ? null : { key: requestsKey(grant.id), limit: grant.requestsPerMinute, ttlMs: minuteMs };
    },

    /** The 429 for a call the key's request window refused (`resetMs` from the verdict). */
    requestRefusal(grant: ApiKeyGrant, resetMs: number): AppError {
      const retryAfter = Math.max(1, resetSeconds(resetMs));
      return new AppError(
        'rate_limited',
        `This API key's limit of ${grant.requestsPerMinute} LLM calls per minute is reached; retry in ${retryAfter} s`,
        { headers: refusalHeaders(grant.requestsPerMinute ?? 0, retryAfter) },
      );
    },

    /** Adds a finished call's tokens to the key's current minute (see the file's note). */
    async chargeTokens(apiKeyId: string, tokens: number): Promise<void> {
      if (tokens > 0) await kv.incr(tokensKey(apiKeyId), { by: tokens, ttlMs: minuteMs });
    },
  };
}

export type KeyLimits = ReturnType<typeof createKeyLimits>;
