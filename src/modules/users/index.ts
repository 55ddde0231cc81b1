import { Elysia } from 'elysia';
import { invalid } from '../../http/errors.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { PreferencesBody, Profile, UpdateProfileBody, Usage, UsageQuery } from './model.ts';
import type { UsersService } from './service.ts';

const tags = ['Users'];

export function usersModule({ users, routes }: { users: UsersService; routes: RouteBundle }) {
  return new Elysia({ name: 'users', prefix: '/api/v1/users' })
    .use(routes.api())
    .get('/me', ({ caller }) => users.profile(caller.user.id), {
      auth: true,
      response: { 200: Profile },
      detail: { tags, summary: 'The caller’s profile and preferences' },
    })
    .patch('/me', ({ caller, body }) => users.updateProfile(caller.user.id, body), {
      auth: true,
      body: UpdateProfileBody,
      response: { 200: Profile },
      detail: { tags, summary: 'Change name or avatar URL (null clears)' },
    })
    .patch('/me/preferences', ({ caller, body }) => users.mergePreferences(caller.user.id, body), {
      auth: true,
      // Before validation: Elysia would otherwise normalise an array or a string into an object.
      transform({ body }) {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('body', 'must be a JSON object');
      },
      body: PreferencesBody,
      response: { 200: Profile },
      detail: { tags, summary: 'Merge keys into the stored preferences (null removes a key; 16 KiB at most)' },
    })
    .get('/me/usage', ({ caller, query }) => users.usage(caller.user.id, query.days ?? 30), {
      auth: true,
      query: UsageQuery,
      response: { 200: Usage },
      detail: { tags, summary: 'Requests and input/output tokens over the last `days` days, by day and by model' },
    });
}
