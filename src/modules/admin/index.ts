import { Elysia } from 'elysia';
import { page } from '../../http/pagination.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { IdParams } from '../auth/model.ts';
import { AdminUpdateUserBody, AdminUsersQuery, AdminUserView } from '../users/model.ts';
import type { UsersService } from '../users/service.ts';

const tags = ['Admin'];

export function adminModule({ users, routes }: { users: UsersService; routes: RouteBundle }) {
  return new Elysia({ name: 'admin', prefix: '/api/v1/admin' })
    .use(routes.api())
    .get('/users', ({ query }) => users.adminList(query), {
      admin: true,
      query: AdminUsersQuery,
      response: { 200: page(AdminUserView) },
      detail: { tags, summary: 'Users, newest first; `q` searches email addresses' },
    })
    .patch('/users/:id', ({ params, body }) => users.adminUpdate(params.id, body), {
      admin: true,
      params: IdParams,
      body: AdminUpdateUserBody,
      response: { 200: AdminUserView },
      detail: { tags, summary: 'Change role, tier or disabled (a disabled user’s tokens and keys are refused at once)' },
    });
}
