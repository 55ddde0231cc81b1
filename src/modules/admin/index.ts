import { Elysia } from 'elysia';
import { mayFail } from '../../http/docs.ts';
import { PageQuery, page } from '../../http/pagination.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { ApiKeyUsage, ApiKeyView, IdParams } from '../auth/model.ts';
import type { AuthService } from '../auth/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { AdminUpdateUserBody, AdminUsersQuery, AdminUserView, Usage, UsageQuery } from '../users/model.ts';
import type { UsersService } from '../users/service.ts';
import { AuditEntry, AuditLogQuery, Overview, OverviewQuery } from './model.ts';
import type { AdminService } from './service.ts';

const tags = ['Admin'];

/** The fields a patch named, picked from a view: what the audit log keeps as before and after. */
const changed = <T extends object>(view: T, patch: object) =>
  Object.fromEntries(Object.keys(patch).map((key) => [key, view[key as keyof T]]));

export function adminModule({
  admin,
  users,
  replies,
  auth,
  routes,
}: {
  admin: AdminService;
  users: UsersService;
  replies: RepliesService;
  auth: Pick<AuthService, 'userDisabled' | 'apiKeys'>;
  routes: RouteBundle;
}) {
  return new Elysia({ name: 'admin', prefix: '/api/v1/admin' })
    .use(routes.api())
    .get('/overview', ({ query }) => admin.overview({ days: query.days ?? 30, top: query.top ?? 10 }), {
      admin: true,
      query: OverviewQuery,
      response: { 200: Overview },
      detail: {
        tags,
        summary:
          'The deployment at a glance over the last `days` days: users (by role, tier, new by day), chats and messages, tokens and requests by day, model and provider, live replies and websockets, queue depth, storage',
      },
    })
    .get('/audit-log', ({ query }) => admin.audit.list(query), {
      admin: true,
      query: AuditLogQuery,
      response: { 200: page(AuditEntry) },
      detail: {
        tags,
        summary: 'Every admin action, newest first: who, when, what (action, target, before and after) and from where; filters combine',
      },
    })
    .get('/users', ({ query }) => users.adminList(query), {
      admin: true,
      query: AdminUsersQuery,
      response: { 200: page(AdminUserView) },
      detail: { tags, summary: 'Users, newest first; `q` searches email addresses' },
    })
    .get('/users/:id/usage', ({ params, query }) => admin.userUsage(params.id, query.days ?? 30), {
      admin: true,
      params: IdParams,
      query: UsageQuery,
      response: { 200: Usage },
      detail: { tags, summary: 'A user’s requests and input/output tokens over the last `days` days, as they see them at /users/me/usage' },
    })
    .get(
      '/users/:id/api-keys',
      async ({ params, query }) => {
        await users.adminGet(params.id); // 404 for no such user
        return auth.apiKeys.list(params.id, query);
      },
      {
        admin: true,
        params: IdParams,
        query: PageQuery,
        response: { 200: page(ApiKeyView) },
        detail: { tags, summary: 'A user’s live API keys with their limits (never the keys themselves), newest first' },
      },
    )
    .get('/api-keys/:id/usage', ({ params, query }) => auth.apiKeys.usageForAdmin(params.id, query.days ?? 30), {
      admin: true,
      params: IdParams,
      query: UsageQuery,
      response: { 200: ApiKeyUsage },
      detail: {
        tags,
        summary: 'Any API key’s usage over the last `days` days, by day and model, and this month against its budget, as its owner sees it',
      },
    })
    .patch(
      '/users/:id',
      async ({ params, body, audit }) => {
        const { before, user } = await users.adminUpdate(params.id, body);
        audit.note({ target: { type: 'user', id: user.id }, before: changed(before, body), after: changed(user, body) });
        // A disabled user's live connections end (websockets 4401, SSE readers an error event) and
        // their replies stop, wherever they run: nothing keeps generating or billing.
        if (user.disabled) {
          await auth.userDisabled(user.id);
          await replies.cancelUser(user.id);
        }
        return user;
      },
      {
        admin: true,
        audit: 'user.update',
        params: IdParams,
        body: AdminUpdateUserBody,
        response: { 200: AdminUserView },
        detail: {
          tags,
          summary:
            'Change role, tier or disabled (a disabled user’s tokens and keys are refused at once, their websockets and SSE readers end, and their replies stop)',
          ...mayFail('conflict'),
        },
      },
    );
}
