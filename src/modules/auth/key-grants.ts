// What an API key's owner may allow it: the models it may call and its limits. Stored on the
// key's row, read with it on every request (caller.ts), enforced by the reply engine's limits.
import { canonicalProvider, providerNames } from '../../config/vocabulary.ts';
import type { ApiKeyGrant } from '../../http/auth.ts';
import { invalid } from '../../http/errors.ts';
import type { ApiKeyRow } from './repository.ts';

/** The limits a key's row holds, each null when not limited. */
export type KeyLimits = Omit<ApiKeyGrant, 'id'>;

const globChars = /[*?[]/;

/**
 * The allowed-models list as stored: each entry trimmed, `*` alone or `provider/model` where
 * either side may be a glob (`*` any characters, `/` included; `?` one; `[…]` a set); a provider
 * alias becomes its canonical name (`claude/…` → `anthropic/…`); duplicates dropped. Throws 422
 * naming `field[i]` for an entry with no `/`, an empty side, or a provider that is no provider.
 */
export function normaliseModelPatterns(patterns: readonly string[], field: string): string[] {
  const out: string[] = [];
  for (const [i, raw] of patterns.entries()) {
    const pattern = raw.trim();
    if (pattern === '*') {
      out.push(pattern);
      continue;
    }
    const slash = pattern.indexOf('/');
    if (slash <= 0 || slash === pattern.length - 1) {
      throw invalid(`${field}.${i}`, 'must be `provider/model` (either side may use * ? [..] globs), or * for every model');
    }
    const word = pattern.slice(0, slash);
    const provider = globChars.test(word) ? word : canonicalProvider(word.toLowerCase());
    if (!provider) throw invalid(`${field}.${i}`, `names no provider: use one of ${providerNames.join(', ')}, or a glob`);
    out.push(`${provider}/${pattern.slice(slash + 1)}`);
  }
  return [...new Set(out)];
}

/** The grant a key's row carries, as the Caller holds it. */
export function grantOf(row: Pick<ApiKeyRow, 'id' | 'allowedModels' | 'requestsPerMinute' | 'tokensPerMinute' | 'monthlyTokenBudget'>) {
  return {
    id: row.id,
    allowedModels: row.allowedModels ?? null,
    requestsPerMinute: row.requestsPerMinute ?? null,
    tokensPerMinute: row.tokensPerMinute ?? null,
    monthlyTokenBudget: row.monthlyTokenBudget ?? null,
  } satisfies ApiKeyGrant;
}
