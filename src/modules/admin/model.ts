import { t } from 'elysia';
import { credentialKinds } from '../../config/vocabulary.ts';
import { pageQuery, queryInteger } from '../../http/pagination.ts';
import { DateTimeInput } from '../../http/time.ts';
import { Role, Tier } from '../../http/vocabulary.ts';
import { UsageQuery } from '../users/model.ts';

const Count = (description?: string) => t.Integer({ minimum: 0, ...(description ? { description } : {}) });
const Nullable = <T extends import('elysia').TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Day = t.String({ description: 'YYYY-MM-DD, UTC' });

export const OverviewQuery = t.Object({
  ...UsageQuery.properties,
  top: t.Optional(queryInteger('top', { minimum: 1, maximum: 100, default: 10, description: 'How many users `storage.topUsers` lists' })),
});

const UsageTotals = t.Object({ requests: Count(), inputTokens: Count(), outputTokens: Count() });
const withTotals = <P extends import('@sinclair/typebox').TProperties>(properties: P) => t.Composite([t.Object(properties), UsageTotals]);

export const Overview = t.Object({
  from: t.String({ description: 'First day of the period (YYYY-MM-DD, UTC)' }),
  to: t.String({ description: 'Last day of the period (today, UTC)' }),
  generatedAt: t.String({ format: 'date-time' }),
  users: t.Object({
    total: Count(),
    disabled: Count(),
    byRole: t.Record(Role, Count()),
    byTier: t.Record(Tier, Count()),
    newByDay: t.Array(t.Object({ day: Day, count: Count() }), { description: 'Accounts and guests created, every day of the period' }),
    active: Count('Users with at least one LLM request in the period'),
  }),
  chats: t.Object({ total: Count(), featured: Count() }),
  messages: t.Object({ total: Count(), streaming: Count('Replies being generated now, as stored (replies in chats only)') }),
  usage: t.Object({
    totals: UsageTotals,
    byDay: t.Array(withTotals({ day: Day }), { description: 'Every day of the period, zeros included' }),
    byModel: t.Array(withTotals({ provider: t.String(), model: t.String() }), { description: 'Most tokens first' }),
    byProvider: t.Array(withTotals({ provider: t.String() }), { description: 'Most tokens first' }),
  }),
  live: t.Object({
    replies: t.Object({
      instance: Count('Replies this instance is generating'),
      cluster: Count('Replies being generated on every instance (producers with a live heartbeat in the shared KV)'),
    }),
    websockets: t.Object({ instance: Count('Websockets open on this instance') }),
  }),
  queue: t.Object({
    depth: Nullable(Count('Jobs waiting in the pipelines queue; null when this server has no queue')),
  }),
  storage: t.Object({
    bytes: Count('Bytes of every uploaded file'),
    files: Count(),
    topUsers: t.Array(t.Object({ userId: t.String(), email: Nullable(t.String()), bytes: Count(), files: Count() }), {
      description: 'The users storing the most bytes, most first',
    }),
  }),
});
export type Overview = typeof Overview.static;

export const adminKeyActor = 'admin-key';

export const AuditLogQuery = pageQuery({
  action: t.Optional(t.String({ minLength: 1, maxLength: 100, description: 'Only this action (e.g. user.update)' })),
  actor: t.Optional(
    t.String({
      minLength: 1,
      maxLength: 100,
      description: `Only this admin's user id, or \`${adminKeyActor}\` for actions done by the admin key`,
    }),
  ),
  target: t.Optional(t.String({ minLength: 1, maxLength: 300, description: 'Only actions on this target id (a user id, a chat id…)' })),
  targetType: t.Optional(
    t.String({ minLength: 1, maxLength: 50, description: 'Only actions on this kind of target (user, chat, model, cache)' }),
  ),
  since: t.Optional(DateTimeInput({ description: 'Only actions at or after this time' })),
  until: t.Optional(DateTimeInput({ description: 'Only actions before this time' })),
});
export type AuditLogQuery = typeof AuditLogQuery.static;

export const AuditEntry = t.Object({
  id: t.String(),
  at: t.String({ format: 'date-time' }),
  actor: t.Object({
    userId: Nullable(t.String({ description: 'The admin’s user id; null when the admin key alone was used' })),
    email: Nullable(t.String({ description: 'The admin’s email when they acted' })),
    credential: t.Union([t.Literal(credentialKinds[0]), t.Literal(credentialKinds[1]), t.Literal(credentialKinds[2])], {
      description: 'What made the caller an admin: their access token or API key (role admin), or the admin key',
    }),
  }),
  action: t.String({ description: 'What was done: user.update, chat.feature, cache.clear, sessions.cleanup, model.start, model.stop…' }),
  target: Nullable(t.Object({ type: t.String(), id: t.String() })),
  before: t.Unknown({ description: 'What the action changed, as it was (null when not applicable)' }),
  after: t.Unknown({ description: 'The same, as the action left it' }),
  details: t.Unknown({ description: 'Anything else the action reported (a pattern, counts)' }),
  method: t.String(),
  path: t.String({ description: 'The route, as a template (/api/v1/admin/users/:id)' }),
  ip: Nullable(t.String()),
  userAgent: Nullable(t.String()),
  requestId: Nullable(t.String()),
});
export type AuditEntry = typeof AuditEntry.static;
