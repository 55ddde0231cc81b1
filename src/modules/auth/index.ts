import { Elysia, t } from 'elysia';
import { mayFail, noContent } from '../../http/docs.ts';
import { PageQuery, page } from '../../http/pagination.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { PublicUser, UsageQuery } from '../users/model.ts';
import { toPublicUser } from '../users/service.ts';
import {
  Accepted,
  ApiKeyUsage,
  ApiKeyView,
  AuthResponse,
  ChangePasswordBody,
  CreateApiKeyBody,
  CreatedApiKey,
  ForgotPasswordBody,
  IdParams,
  LoginBody,
  RefreshBody,
  RegisterBody,
  ResetPasswordBody,
  SessionView,
  UpdateApiKeyBody,
  VerifyEmailBody,
} from './model.ts';
import type { AuthService } from './service.ts';

const tags = ['Auth'];

/**
 * For the routes whose answer carries tokens or a key: no cache, a browser's or a proxy's, may
 * keep it (RFC 6749 §5.1; `Pragma` for HTTP/1.0 caches). Set before the handler runs, so a replay
 * or an error of the same route says the same.
 */
const noStore = {
  beforeHandle({ set }: { set: { headers: Record<string, string | number> } }) {
    set.headers['cache-control'] = 'no-store';
    set.headers.pragma = 'no-cache';
  },
};

export type AuthModuleDeps = { auth: AuthService; routes: RouteBundle };

export function authModule({ auth, routes }: AuthModuleDeps) {
  const meta = (request: Request, ip: string) => ({ userAgent: request.headers.get('user-agent')?.slice(0, 512) ?? null, ip });

  // The routes a password guesser or a mail bomber would hammer get the stricter budget.
  const sensitive = new Elysia({ name: 'auth-sensitive' })
    .use(routes.credentials())
    .post(
      '/register',
      async ({ body, request, ip, caller, set }) => {
        set.status = 201;
        return auth.accounts.register(body, meta(request, ip), caller);
      },
      {
        optionalAuth: true,
        ...noStore,
        body: RegisterBody,
        response: { 201: AuthResponse },
        detail: { tags, summary: 'Create an account (a guest calling this keeps its user id and chats)', ...mayFail('conflict') },
      },
    )
    .post('/login', ({ body, request, ip }) => auth.accounts.login(body, meta(request, ip)), {
      ...noStore,
      body: LoginBody,
      response: { 200: AuthResponse },
      detail: { tags, summary: 'Sign in with email and password', ...mayFail('unauthorized', 'forbidden') },
    })
    .post(
      '/forgot-password',
      ({ body, set }) => {
        auth.accounts.forgotPassword(body.email);
        set.status = 202;
        return { message: 'If an account uses this email, a reset token is on its way' };
      },
      { body: ForgotPasswordBody, response: { 202: Accepted }, detail: { tags, summary: 'Mail a password-reset token (always 202)' } },
    )
    .post(
      '/reset-password',
      async ({ body, set }) => {
        await auth.accounts.resetPassword(body.token, body.newPassword);
        set.status = 204;
      },
      {
        body: ResetPasswordBody,
        detail: { tags, summary: 'Set a new password with a mailed token; ends every session', responses: noContent },
      },
    );

  // `sensitive` first: its routes spend the general budget inside their own limiter (both budgets
  // in one atomic check), and must not get the general limiter of `routes.api()` on top.
  return new Elysia({ name: 'auth', prefix: '/api/v1/auth' })
    .use(sensitive)
    .use(routes.api())
    .post(
      '/guest',
      async ({ request, ip, set }) => {
        set.status = 201;
        return auth.accounts.guest(meta(request, ip));
      },
      {
        ...noStore,
        response: { 201: AuthResponse },
        detail: { tags, summary: 'Start a guest session (register later to keep its chats)' },
      },
    )
    .post('/refresh', ({ body, request, ip }) => auth.sessions.refresh(body.refreshToken, meta(request, ip)), {
      ...noStore,
      body: RefreshBody,
      response: { 200: AuthResponse },
      detail: {
        tags,
        summary: 'Trade a refresh token for new tokens (each refresh token works once)',
        ...mayFail('unauthorized', 'forbidden'),
      },
    })
    .post(
      '/logout',
      async ({ caller, set }) => {
        await auth.sessionList.logout(caller);
        set.status = 204;
      },
      {
        auth: 'session',
        detail: { tags, summary: 'End this session; its access token is refused at once (not with an API key)', responses: noContent },
      },
    )
    .post(
      '/logout-all',
      async ({ caller, set }) => {
        await auth.sessionList.logoutAll(caller);
        set.status = 204;
      },
      { auth: 'session', detail: { tags, summary: 'End every session of this user (not with an API key)', responses: noContent } },
    )
    .get('/me', ({ caller }) => toPublicUser(caller.user), {
      auth: true,
      response: { 200: PublicUser },
      detail: { tags, summary: 'The signed-in user' },
    })
    .post(
      '/change-password',
      async ({ body, caller, set }) => {
        await auth.accounts.changePassword(caller, body.currentPassword, body.newPassword);
        set.status = 204;
      },
      {
        member: 'session',
        body: ChangePasswordBody,
        detail: { tags, summary: 'Change the password; ends every other session (not with an API key)', responses: noContent },
      },
    )
    .post('/verify-email', async ({ body }) => ({ user: toPublicUser(await auth.accounts.verifyEmail(body.token)) }), {
      body: VerifyEmailBody,
      response: { 200: t.Object({ user: PublicUser }) },
      detail: { tags, summary: 'Confirm the email address with a mailed token' },
    })
    .post(
      '/verify-email/resend',
      async ({ caller, set }) => {
        await auth.accounts.resendVerification(caller);
        set.status = 202;
        return { message: 'A new verification token is on its way' };
      },
      {
        member: 'session',
        response: { 202: Accepted },
        detail: { tags, summary: 'Mail a new email-verification token (not with an API key)', ...mayFail('conflict') },
      },
    )
    .get('/sessions', ({ caller, query }) => auth.sessionList.list(caller, query), {
      auth: true,
      query: PageQuery,
      response: { 200: page(SessionView) },
      detail: { tags, summary: 'Signed-in devices of this user' },
    })
    .delete(
      '/sessions/:id',
      async ({ caller, params, set }) => {
        await auth.sessionList.end(caller, params.id);
        set.status = 204;
      },
      {
        auth: 'session',
        params: IdParams,
        detail: { tags, summary: 'End one session; its tokens are refused at once (not with an API key)', responses: noContent },
      },
    )
    .post(
      '/api-keys',
      async ({ caller, body, set }) => {
        set.status = 201;
        return auth.apiKeys.create(caller.user.id, body);
      },
      {
        // Not with an API key: a key minted by a leaked key would outlive the leaked one's revocation.
        member: 'session',
        ...noStore,
        // The key is a secret KV must not hold: a repeat is 409 naming the key already created.
        idempotent: 'secret',
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKey },
        detail: { tags, summary: 'Create an API key (pk_…); the key is shown only in this response (not with an API key)' },
      },
    )
    .get('/api-keys', ({ caller, query }) => auth.apiKeys.list(caller.user.id, query), {
      member: true,
      query: PageQuery,
      response: { 200: page(ApiKeyView) },
      detail: { tags, summary: 'API keys of this user (without the keys themselves)' },
    })
    .patch('/api-keys/:id', ({ caller, params, body }) => auth.apiKeys.update(caller.user.id, params.id, body), {
      // Not with an API key: a leaked key must not lift its own limits or expiry.
      member: 'session',
      params: IdParams,
      body: UpdateApiKeyBody,
      response: { 200: ApiKeyView },
      detail: {
        tags,
        summary:
          'Change a key’s name, expiry, allowed models or limits; null removes one. Applies to the key’s next request on every instance (not with an API key)',
      },
    })
    .get('/api-keys/:id/usage', ({ caller, params, query }) => auth.apiKeys.usage(caller.user.id, params.id, query.days ?? 30), {
      member: true,
      params: IdParams,
      query: UsageQuery,
      response: { 200: ApiKeyUsage },
      detail: {
        tags,
        summary:
          'What the LLM calls made with one of your keys used over the last `days` days (UTC), by day and model, and this month against its budget',
      },
    })
    .delete(
      '/api-keys/:id',
      async ({ caller, params, set }) => {
        await auth.apiKeys.revoke(caller.user.id, params.id);
        set.status = 204;
      },
      { member: 'session', params: IdParams, detail: { tags, summary: 'Revoke an API key (not with an API key)', responses: noContent } },
    );
}
