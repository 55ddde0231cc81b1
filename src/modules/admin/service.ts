import { roles, tiers } from '../../config/vocabulary.ts';
import type { AuditEvent } from '../../http/audit-trail.ts';
import { invalid, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { Infra } from '../../infra/index.ts';
import type { Usage } from '../users/model.ts';
import type { UsersService } from '../users/service.ts';
import { type AuditEntry, type AuditLogQuery, adminKeyActor, type Overview } from './model.ts';
import { createOverviewQueries, type UsageRow } from './overview-queries.ts';
import { type AuditFilter, type AuditRow, createAuditRepository } from './repository.ts';

/** Figures of this process (or the cluster) that live outside the database. */
export type AdminLiveSources = {
  /** Replies this instance is generating. */
  activeReplies: () => number;
  /** Replies generating on every instance (heartbeats in the shared KV). */
  clusterReplies: () => Promise<number>;
  /** Websockets open on this instance. */
  websockets: () => number;
  /** Jobs waiting in the pipelines queue, when this server has one. */
  queueDepth?: () => number | Promise<number>;
};

const dayMs = 86_400_000;
const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const tokensOf = (row: { inputTokens: number; outputTokens: number }) => row.inputTokens + row.outputTokens;

type Totals = { requests: number; inputTokens: number; outputTokens: number };
const zero = (): Totals => ({ requests: 0, inputTokens: 0, outputTokens: 0 });
const add = (sum: Totals, row: Totals) => {
  sum.requests += row.requests;
  sum.inputTokens += row.inputTokens;
  sum.outputTokens += row.outputTokens;
};

/** Usage rows by day (every day from `from` to `to`), by model and by provider; most tokens first. */
function summariseUsage(rows: UsageRow[], days: string[]): Overview['usage'] {
  const totals = zero();
  const byDay = new Map(days.map((day) => [day, zero()]));
  const byModel = new Map<string, { provider: string; model: string } & Totals>();
  const byProvider = new Map<string, { provider: string } & Totals>();
  for (const row of rows) {
    const model = byModel.get(`${row.provider}\u0000${row.model}`) ?? { provider: row.provider, model: row.model, ...zero() };
    byModel.set(`${row.provider}\u0000${row.model}`, model);
    const provider = byProvider.get(row.provider) ?? { provider: row.provider, ...zero() };
    byProvider.set(row.provider, provider);
    for (const sum of [totals, model, provider, byDay.get(row.day)]) if (sum) add(sum, row);
  }
  const mostFirst = <T extends Totals>(items: Iterable<T>) =>
    [...items].sort((a, b) => tokensOf(b) - tokensOf(a) || b.requests - a.requests);
  return {
    totals,
    byDay: [...byDay].map(([day, sums]) => ({ day, ...sums })),
    byModel: mostFirst(byModel.values()),
    byProvider: mostFirst(byProvider.values()),
  };
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.createdAt.toISOString(),
    actor: { userId: row.actorUserId, email: row.actorEmail, credential: row.actorCredential },
    action: row.action,
    target: row.targetType && row.targetId ? { type: row.targetType, id: row.targetId } : null,
    before: row.before ?? null,
    after: row.after ?? null,
    details: row.details ?? null,
    method: row.method,
    path: row.path,
    ip: row.ip,
    userAgent: row.userAgent,
    requestId: row.requestId,
  };
}

/** The admin room: the deployment's overview, the audit log of admin actions, any user's usage. */
export function createAdminService(infra: Pick<Infra, 'db' | 'log'>, deps: { users: UsersService; live: AdminLiveSources }) {
  const { db, log } = infra;
  const { users, live } = deps;
  const queries = createOverviewQueries(db);
  const auditLog = createAuditRepository(db);

  const queueDepthOrNull = async (): Promise<number | null> => {
    if (!live.queueDepth) return null;
    try {
      return await live.queueDepth();
    } catch (error) {
      log.warn('overview: could not read the queue depth', { error: (error as Error).message });
      return null;
    }
  };

  return {
    /**
     * Everything at a glance over the last `days` days (UTC, today included): users, chats and
     * messages, LLM usage by day, model and provider, live replies and websockets, queue depth and
     * storage (the `top` users storing most). Live figures are this instance's unless named cluster.
     */
    async overview({ days, top }: { days: number; top: number }, now = new Date()): Promise<Overview> {
      const fromDate = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days - 1) * dayMs);
      const from = dayOf(fromDate);
      const period = Array.from({ length: days }, (_, i) => dayOf(new Date(fromDate.getTime() + i * dayMs)));
      const [kinds, newUsers, chatCounts, messageCounts, usageRows, active, storage, clusterReplies, queueDepth] = await Promise.all([
        queries.usersByKind(),
        queries.newUsersByDay(fromDate),
        queries.chatCounts(),
        queries.messageCounts(),
        queries.usageSince(from),
        queries.activeUsersSince(from),
        queries.storage(top),
        live.clusterReplies().catch((error) => {
          // The KV being away must not hide the rest of the overview.
          log.warn('overview: could not count replies across instances', { error: (error as Error).message });
          return live.activeReplies();
        }),
        queueDepthOrNull(),
      ]);
      const byRole = Object.fromEntries(roles.map((role) => [role, 0])) as Overview['users']['byRole'];
      const byTier = Object.fromEntries(tiers.map((tier) => [tier, 0])) as Overview['users']['byTier'];
      let total = 0;
      let disabled = 0;
      for (const row of kinds) {
        const n = Number(row.count);
        total += n;
        byRole[row.role] += n;
        byTier[row.tier] += n;
        if (row.disabled) disabled += n;
      }
      const newByDay = new Map(period.map((day) => [day, 0]));
      for (const row of newUsers) if (newByDay.has(row.day)) newByDay.set(row.day, row.count);
      return {
        from,
        to: dayOf(now),
        generatedAt: now.toISOString(),
        users: { total, disabled, byRole, byTier, newByDay: [...newByDay].map(([day, count]) => ({ day, count })), active },
        chats: chatCounts,
        messages: messageCounts,
        usage: summariseUsage(usageRows, period),
        live: {
          replies: { instance: live.activeReplies(), cluster: Math.max(clusterReplies, live.activeReplies()) },
          websockets: { instance: live.websockets() },
        },
        queue: { depth: queueDepth },
        storage,
      };
    },

    audit: {
      /**
       * Writes one admin action (the sink of the HTTP audit trail). A failed write is logged with
       * the whole entry and does not fail the request: the action itself is already done.
       */
      async record(event: AuditEvent): Promise<void> {
        const at = new Date();
        try {
          await auditLog.insert({
            id: Bun.randomUUIDv7('hex', at),
            createdAt: at,
            actorUserId: event.actor.userId,
            actorEmail: event.actor.email,
            actorCredential: event.actor.credential,
            action: event.action,
            targetType: event.target?.type ?? null,
            targetId: event.target?.id ?? null,
            before: event.before ?? null,
            after: event.after ?? null,
            details: event.details ?? null,
            method: event.method,
            path: event.path,
            ip: event.ip,
            userAgent: event.userAgent,
            requestId: event.requestId,
          });
        } catch (error) {
          log.error('audit entry not stored', { entry: event, error: (error as Error).message });
        }
      },

      /** Newest first, in cursor pages; 422 when `until` is not after `since`. */
      async list(query: AuditLogQuery): Promise<Page<AuditEntry>> {
        const limit = query.limit ?? 20;
        const since = query.since ? new Date(query.since) : undefined;
        const until = query.until ? new Date(query.until) : undefined;
        if (since && until && until <= since) throw invalid('query.until', 'must be after since');
        const filter: AuditFilter = {
          action: query.action,
          targetId: query.target,
          targetType: query.targetType,
          since,
          until,
          ...(query.actor === adminKeyActor ? { actorCredential: 'adminKey' as const } : { actorUserId: query.actor }),
        };
        const rows = await auditLog.list({ limit: limit + 1, beforeId: decodeCursor(query.cursor, isString), filter });
        return toPage(rows, limit, (row) => row.id, toEntry);
      },
    },

    /** Any user's usage, as they see it at GET /users/me/usage; 404 when there is no such user. */
    async userUsage(userId: string, days: number): Promise<Usage> {
      if (!(await users.findById(userId))) throw notFound('User');
      return users.usage(userId, days);
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
