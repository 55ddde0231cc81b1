// One security pass over every operation of the OpenAPI document, driven by what the document
// says of it (`security`, and `x-access`: user, member, admin or optional). A new route is
// covered the day it is added:
// - no credentials, or a bad one: 401, before the body is looked at (an empty body would be a 422
//   if validation ran first, describing the route's schema to an anonymous caller);
// - a guest on a member route, a member on an admin route: 403;
// - another user's resource, on every route with an id in its path: 404, as if it did not exist.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { SignJWT } from 'jose';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createApiKey, createChat, expectStatus, guest, register, sendJson, testEnv } from '../helpers/client.ts';
import { uploadSample } from '../helpers/files.ts';

type Operation = { security?: Record<string, unknown>[]; 'x-access'?: 'user' | 'member' | 'admin' | 'optional' };
type Route = { method: string; path: string; operation: Operation };

describe('every route of the OpenAPI document', () => {
  let app: TestApp;
  let routes: Route[];
  beforeAll(async () => {
    app = await createTestApp(undefined, testEnv);
    const document = (await (await app.request('/swagger/json')).json()) as { paths: Record<string, Record<string, Operation>> };
    routes = Object.entries(document.paths)
      // The websocket has its own 4401 / 4403 closes, tested in tests/realtime.
      .filter(([path]) => path !== '/api/v1/ws')
      .flatMap(([path, operations]) => Object.entries(operations).map(([method, operation]) => ({ method, path, operation })));
  });
  afterAll(() => app.close());

  // Public routes, and routes where credentials are optional, list an empty requirement.
  const isProtected = ({ operation }: Route) =>
    (operation.security ?? []).length > 0 && !(operation.security ?? []).some((requirement) => Object.keys(requirement).length === 0);
  const call = (route: Route, headers: Record<string, string>, path = route.path.replace(/\{[^}]+\}/g, 'some-id'), json: unknown = {}) =>
    app.request(path, {
      method: route.method.toUpperCase(),
      headers,
      ...(['post', 'put', 'patch'].includes(route.method) ? { json } : {}),
    });

  /** The code OpenAI's shape gives each of the contract's codes checked here (the OpenAI-compatible routes answer in it). */
  const openAiCodes: Record<string, string> = { unauthorized: 'invalid_api_key', forbidden: 'forbidden', not_found: 'not_found' };
  /** The error type Anthropic's shape gives them (the Anthropic-compatible /v1/messages routes answer in it). */
  const anthropicTypes: Record<string, string> = {
    unauthorized: 'authentication_error',
    forbidden: 'permission_error',
    not_found: 'not_found_error',
  };
  const isAnthropic = (route: Route) => route.path.startsWith('/v1/messages');
  const codeOn = (route: Route, code: string) =>
    isAnthropic(route) ? (anthropicTypes[code] ?? code) : route.path.startsWith('/v1/') ? (openAiCodes[code] ?? code) : code;

  /** Calls each route, and lists those whose answer is not `status` with `code`. */
  async function expectEach(selected: Route[], headers: Record<string, string>, status: number, code: string) {
    const wrong: string[] = [];
    for (const route of selected) {
      const response = await call(route, headers);
      const body = (await response.json()) as { error?: { code?: string; type?: string } };
      const said = isAnthropic(route) ? body.error?.type : body.error?.code;
      if (response.status !== status || said !== codeOn(route, code))
        wrong.push(`${route.method.toUpperCase()} ${route.path} → ${response.status} ${said}`);
    }
    expect(wrong).toEqual([]);
  }

  test('security: no credentials is 401 unauthorized on each protected route, whatever the body', async () => {
    const selected = routes.filter(isProtected);
    expect(selected.length).toBeGreaterThan(30);
    await expectEach(selected, {}, 401, 'unauthorized');
  });

  test('security: a bad credential (garbage, a token signed with another key, an unknown API key) is 401 on each', async () => {
    const selected = routes.filter(isProtected);
    const forged = await new SignJWT({ sid: 'x', role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('someone')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('not-the-server-secret-0123456789abcdef'));
    for (const credential of ['garbage', forged, 'pk_0000000000000000000000000000000000000000']) {
      await expectEach(selected, bearer(credential), 401, 'unauthorized');
    }
  });

  test('security: every route says who may call it, and protected routes are user, member or admin', () => {
    const undeclared = routes.filter((r) => (r.operation.security ?? []).length > 0 && !r.operation['x-access']);
    expect(undeclared.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect(routes.filter(isProtected).every((r) => ['user', 'member', 'admin'].includes(r.operation['x-access'] ?? ''))).toBe(true);
  });

  test('security: a guest on a member route, and a member on an admin route, are 403 forbidden', async () => {
    const visitor = await guest(app);
    const member = await register(app);
    const memberRoutes = routes.filter((r) => r.operation['x-access'] === 'member');
    const adminRoutes = routes.filter((r) => r.operation['x-access'] === 'admin');
    expect(memberRoutes.length).toBeGreaterThan(0);
    expect(adminRoutes.length).toBeGreaterThan(5);
    await expectEach(memberRoutes, bearer(visitor.accessToken), 403, 'forbidden');
    await expectEach(adminRoutes, bearer(member.accessToken), 403, 'forbidden');
  });

  describe('another user’s resource', () => {
    let owner: Account;
    let intruder: Account;
    /** A real id of the owner's for each path parameter, by the path it appears in. */
    let idsFor: (path: string) => Record<string, string> | undefined;
    const bodies: Record<string, unknown> = {
      'post /api/v1/chats/{id}/messages': { content: 'hello', stream: false },
      'patch /api/v1/chats/{id}': { title: 'taken' },
      'patch /api/v1/chats/{id}/messages/{messageId}': { content: 'taken', stream: false },
      'post /api/v1/streams/{id}/append': { event: 'x', data: 1 },
      'patch /api/v1/transcripts/{id}': { title: 'taken' },
      'patch /api/v1/pipelines/{id}': { name: 'taken' },
      'post /api/v1/pipelines/{id}/execute': { input: {} },
    };
    let transcriptId: string;
    let responseId: string;

    beforeAll(async () => {
      owner = await register(app);
      intruder = await register(app);
      const chat = await createChat(app, owner.accessToken, { provider: 'echo' });
      const sent = await sendJson(app, owner.accessToken, chat.id, { content: 'mine' });
      const key = await createApiKey(app, owner.accessToken);
      const stream = await expectStatus(
        await app.request('/api/v1/streams', { method: 'POST', headers: bearer(owner.accessToken), json: {} }),
        201,
      );
      const sessions = await expectStatus(await app.request('/api/v1/auth/sessions', { headers: bearer(owner.accessToken) }), 200);
      const file = await uploadSample(app, owner.accessToken);
      const transcript = await expectStatus(
        await app.request('/api/v1/transcripts', { method: 'POST', headers: bearer(owner.accessToken), json: { chatId: chat.id } }),
        201,
      );
      transcriptId = transcript.id;
      const pipeline = await expectStatus(
        await app.request('/api/v1/pipelines', {
          method: 'POST',
          headers: bearer(owner.accessToken),
          json: { name: 'mine', steps: [{ id: 'only', type: 'template', template: 'x' }] },
        }),
        201,
      );
      const execution = await expectStatus(
        await app.request(`/api/v1/pipelines/${pipeline.id}/execute`, { method: 'POST', headers: bearer(owner.accessToken), json: {} }),
        202,
      );
      const response = await expectStatus(
        await app.request('/v1/responses', {
          method: 'POST',
          headers: bearer(owner.accessToken),
          json: { model: 'echo/echo', input: 'mine' },
        }),
        200,
      );
      responseId = response.id;
      idsFor = (path): Record<string, string> | undefined => {
        if (path.startsWith('/api/v1/pipelines/{id}')) return { id: pipeline.id };
        if (path.startsWith('/api/v1/pipeline-executions/{id}')) return { id: execution.executionId };
        if (path.startsWith('/api/v1/chats/{id}')) return { id: chat.id, messageId: sent.assistantMessage.id };
        if (path.startsWith('/api/v1/streams/{id}')) return { id: stream.id };
        if (path.startsWith('/api/v1/auth/api-keys/{id}')) return { id: key.id };
        if (path.startsWith('/api/v1/auth/sessions/{id}')) return { id: sessions.data[0].id };
        if (path.startsWith('/api/v1/files/{id}')) return { id: file.id };
        if (path.startsWith('/api/v1/transcripts/{id}')) return { id: transcriptId };
        if (path.startsWith('/v1/responses/{id}')) return { id: responseId };
        return undefined;
      };
    });

    test('security: every route with an id in its path answers 404 not_found to another user, and the resource is untouched', async () => {
      // Admin routes act on any user's data by design; every other route with an id is owner-only,
      // but for a model id, which names what the deployment offers (tests/openai-compat/models-retrieve.test.ts).
      const catalogue = ['/v1/models/{model}'];
      const selected = routes.filter((r) => r.path.includes('{') && r.operation['x-access'] !== 'admin' && !catalogue.includes(r.path));
      expect(selected.length).toBeGreaterThan(8);
      const unmapped = selected.filter((r) => !idsFor(r.path)).map((r) => `${r.method} ${r.path}`);
      expect(unmapped).toEqual([]); // a new owner-only route needs an owned id above
      const wrong: string[] = [];
      for (const route of selected) {
        const ids = idsFor(route.path)!;
        const path = route.path.replace(/\{([^}]+)\}/g, (_, name: string) => ids[name] ?? 'missing');
        const response = await call(route, bearer(intruder.accessToken), path, bodies[`${route.method} ${route.path}`] ?? {});
        const body = (await response.json()) as { error?: { code?: string } };
        if (response.status !== 404 || body.error?.code !== 'not_found')
          wrong.push(`${route.method.toUpperCase()} ${path} → ${response.status}`);
      }
      expect(wrong).toEqual([]);
      // Nothing the intruder tried changed the owner's things.
      const chats = await expectStatus(await app.request('/api/v1/chats', { headers: bearer(owner.accessToken) }), 200);
      expect(chats.data).toHaveLength(1);
      const keys = await expectStatus(await app.request('/api/v1/auth/api-keys', { headers: bearer(owner.accessToken) }), 200);
      expect(keys.data.map((k: { id: string }) => k.id)).toEqual([idsFor('/api/v1/auth/api-keys/{id}')!.id]);
      const files = await expectStatus(await app.request('/api/v1/files', { headers: bearer(owner.accessToken) }), 200);
      expect(files.data.map((f: { id: string }) => f.id)).toEqual([idsFor('/api/v1/files/{id}')!.id]);
      const transcript = await expectStatus(
        await app.request(`/api/v1/transcripts/${transcriptId}`, { headers: bearer(owner.accessToken) }),
        200,
      );
      expect(transcript.title).not.toBe('taken');
      const pipelines = await expectStatus(await app.request('/api/v1/pipelines', { headers: bearer(owner.accessToken) }), 200);
      expect(pipelines.data.map((p: { id: string; name: string }) => [p.id, p.name])).toEqual([
        [idsFor('/api/v1/pipelines/{id}')!.id, 'mine'],
      ]);
      const stored = await expectStatus(await app.request(`/v1/responses/${responseId}`, { headers: bearer(owner.accessToken) }), 200);
      expect(stored.status).toBe('completed');
    });
  });
});
