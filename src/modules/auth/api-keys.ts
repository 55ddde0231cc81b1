import { invalid, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import { apiKeyPrefix } from './caller.ts';
import type { ApiKeyView, CreatedApiKey } from './model.ts';
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
  };
}

/** API keys: `pk_…`, shown once at creation, stored as a hash, usable wherever a token is. */
export function createApiKeys(repo: AuthRepository) {
  return {
    async create(userId: string, input: { name: string; expiresAt?: string }): Promise<CreatedApiKey> {
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
      if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
        throw invalid('body.expiresAt', 'must be a time in the future');
      }
      const key = randomSecret(apiKeyPrefix);
      const row = await repo.insertApiKey({
        id: Bun.randomUUIDv7(),
        userId,
        name: input.name,
        keyHash: hashSecret(key),
        keyPrefix: key.slice(0, shownPrefixLength),
        expiresAt,
      });
      return { ...toView(row), key };
    },

    async list(userId: string, query: { limit?: number; cursor?: string }): Promise<Page<ApiKeyView>> {
      const limit = query.limit ?? 20;
      const rows = await repo.listApiKeys(userId, limit + 1, decodeCursor(query.cursor, isString));
      return toPage(rows, limit, (row) => row.id, toView);
    },

    async revoke(userId: string, id: string): Promise<void> {
      if (!(await repo.revokeApiKey(id, userId))) throw notFound('API key');
    },
  };
}
