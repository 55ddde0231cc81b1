import { Elysia } from 'elysia';
import { mayFail } from '../../http/docs.ts';
import { page } from '../../http/pagination.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { IdParams } from '../auth/model.ts';
import type { AuthService } from '../auth/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { AdminUpdateUserBody, AdminUsersQuery, AdminUserView } from '../users/model.ts';
import type { UsersService } from '../users/service.ts';

const tags = ['Admin'];

export function adminModule({
  users,
  replies,
  auth,
  routes,
}: {
  users: UsersService;
  replies: RepliesService;
  auth: Pick<AuthService, 'userDisabled'>;
  routes: RouteBundle;
}) {
  return new Elysia({ name: 'admin', prefix: '/api/v1/admin' })
    .use(routes.api())
    .get('/users', ({ query }) => users.adminList(query), {
      admin: true,
      query: AdminUsersQuery,
      response: { 200: page(AdminUserView) },
      detail: { tags, summary: 'Users, newest first; `q` searches email addresses' },
    })
    .patch(
      '/users/:id',
      async ({ params, body }) => {
        const user = await users.adminUpdate(params.id, body);
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
