import { invalid, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { UsersService } from '../users/service.ts';
import { apiKeyPrefix } from './caller.ts';
import { normaliseModelPatterns } from './key-grants.ts';
import type { ApiKeyUsage, ApiKeyView, CreateApiKeyBody, CreatedApiKey, UpdateApiKeyBody } from './model.ts';
import type { ApiKeyRow, AuthRepository } from './repository.ts';
import { hashSecret, randomSecret } from './secrets.ts';

const shownPrefixLength = 10;

function toView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.keyPrefix,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    ...limitsOf(row),
  };
}

const limitsOf = (row: ApiKeyRow) => ({
  allowedModels: row.allowedModels ?? null,
  requestsPerMinute: row.requestsPerMinute ?? null,
  tokensPerMinute: row.tokensPerMinute ?? null,
  monthlyTokenBudget: row.monthlyTokenBudget ?? null,
});

/** An expiry as stored: a time in the future (422 on `body.expiresAt` otherwise), or null. */
function expiryOf(value: string | null | undefined): Date | null {
  if (!value) return null;
  const at = new Date(value);
  if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now()) throw invalid('body.expiresAt', 'must be a time in the future');
  return at;
}

/** The limit fields a request gave, as columns: only those present; null clears. */
function limitColumns(input: Omit<UpdateApiKeyBody, 'name' | 'expiresAt'>) {
  const columns: Partial<Pick<ApiKeyRow, 'allowedModels' | 'requestsPerMinute' | 'tokensPerMinute' | 'monthlyTokenBudget'>> = {};
  if (input.allowedModels !== undefined) {
    columns.allowedModels = input.allowedModels === null ? null : normaliseModelPatterns(input.allowedModels, 'body.allowedModels');
  }
  if (input.requestsPerMinute !== undefined) columns.requestsPerMinute = input.requestsPerMinute;
  if (input.tokensPerMinute !== undefined) columns.tokensPerMinute = input.tokensPerMinute;
  if (input.monthlyTokenBudget !== undefined) columns.monthlyTokenBudget = input.monthlyTokenBudget;
  return columns;
}

const nextMonthStart = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));

/**
 * API keys: `pk_…`, shown once at creation, stored as a hash, usable wherever a token is. A key
 * may carry allowed models, requests and tokens per minute, a monthly token budget and an expiry
 * (key-grants.ts; the reply engine's limits enforce them), and its usage is recorded apart.
 */
export function createApiKeys(repo: AuthRepository, users: Pick<UsersService, 'keyUsage' | 'keyMonthTokens'>) {
  /** The key's usage over `days` days and this month against its budget. */
  const usageOf = async (row: ApiKeyRow, days: number, now = new Date()): Promise<ApiKeyUsage> => {
    const [usage, used] = await Promise.all([users.keyUsage(row.id, days, now), users.keyMonthTokens(row.id, now)]);
    const budget = row.monthlyTokenBudget ?? null;
    return {
      ...usage,
      apiKeyId: row.id,
      limits: limitsOf(row),
      month: { used, remaining: budget === null ? null : Math.max(0, budget - used), resetsAt: nextMonthStart(now).toISOString() },
    };
  };

  return {
    /** Throws 422 for an expiry not in the future or an allowed model that names no provider. */
    async create(userId: string, input: CreateApiKeyBody): Promise<CreatedApiKey> {
      const expiresAt = expiryOf(input.expiresAt);
      const limits = limitColumns(input);
      const key = randomSecret(apiKeyPrefix);
      const row = await repo.insertApiKey({
        id: Bun.randomUUIDv7(),
        userId,
        name: input.name,
        keyHash: hashSecret(key),
        keyPrefix: key.slice(0, shownPrefixLength),
        expiresAt,
        ...limits,
      });
      return { ...toView(row), key };
    },

    async list(userId: string, query: { limit?: number; cursor?: string }): Promise<Page<ApiKeyView>> {
      const limit = query.limit ?? 20;
      const rows = await repo.listApiKeys(userId, limit + 1, decodeCursor(query.cursor, isString));
      return toPage(rows, limit, (row) => row.id, toView);
    },

    /**
     * Changes what `input` names of a live key of the user (null removes an expiry or a limit);
     * the next request made with the key, on any instance, sees it. 404 for a key that is not
     * theirs or is revoked; 422 as `create`.
     */
    async update(userId: string, id: string, input: UpdateApiKeyBody): Promise<ApiKeyView> {
      const { name, expiresAt, ...limits } = input;
      const patch = {
        ...(name !== undefined ? { name } : {}),
        ...(expiresAt !== undefined ? { expiresAt: expiryOf(expiresAt) } : {}),
        ...limitColumns(limits),
      };
      const row = Object.keys(patch).length ? await repo.updateApiKey(id, userId, patch) : await repo.findApiKey(id, userId);
      if (!row || row.revokedAt) throw notFound('API key');
      return toView(row);
    },

    async revoke(userId: string, id: string): Promise<void> {
      if (!(await repo.revokeApiKey(id, userId))) throw notFound('API key');
    },

    /** Usage of the user's key (revoked ones too: their history stays); 404 when it is not theirs. */
    async usage(userId: string, id: string, days: number): Promise<ApiKeyUsage> {
      const row = await repo.findApiKey(id, userId);
      if (!row) throw notFound('API key');
      return usageOf(row, days);
    },

    /** Usage of any key, for admins; 404 when there is no such key. */
    async usageForAdmin(id: string, days: number): Promise<ApiKeyUsage> {
      const row = await repo.findApiKey(id);
      if (!row) throw notFound('API key');
      return usageOf(row, days);
    },
  };
}
