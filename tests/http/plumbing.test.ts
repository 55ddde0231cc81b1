// The request path's shared steps: request id, access log, error model, body checks, headers.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia, t } from 'elysia';
import { errorHandler } from '../../src/http/error-handler.ts';
import { AppError } from '../../src/http/errors.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { requestGuard } from '../../src/http/request-log.ts';
import { createLogger } from '../../src/infra/log/index.ts';

// A tiny app made of the real plugins and throwaway routes, to drive every error branch.
function plumbingApp() {
  const logs: Record<string, unknown>[] = [];
  const log = createLogger('debug', (line) => logs.push(JSON.parse(line)));
  const app = new Elysia()
    .use(errorHandler(log))
    .use(requestGuard({ log, metrics: createMetrics(), maxJsonBytes: 1024 }))
    .post('/items', ({ body }) => ({ ok: true, name: body.name }), {
      body: t.Object({ name: t.String({ minLength: 1 }), count: t.Optional(t.Integer({ minimum: 0 })) }),
    })
    .get('/items/:id', ({ params }) => {
      if (params.id === 'taken') throw new AppError('conflict', 'Already taken');
      if (params.id === 'slow') throw new AppError('rate_limited', 'Slow down', { headers: { 'retry-after': '7' } });
      if (params.id === 'down') throw new AppError('unavailable', 'The store is down');
      throw new Error('database password=hunter2 exploded at /srv/app.ts:12');
    });
  const call = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init));
  return { app, logs, call };
}

const json = (body: string, type = 'application/json') => ({
  method: 'POST',
  headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) },
  body,
});
// biome-ignore lint: test bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();

describe('error model', () => {
  const { call, logs } = plumbingApp();

  test('error: malformed JSON is 400 invalid_json', async () => {
    const response = await call('/items', json('{"name": '));
    expect(response.status).toBe(400);
    expect((await readJson(response)).error.code).toBe('invalid_json');
  });

  test('error: a schema violation is 422 validation_error naming the field', async () => {
    const response = await call('/items', json(JSON.stringify({ name: '', count: -1 })));
    expect(response.status).toBe(422);
    const body = await readJson(response);
    expect(body.error.code).toBe('validation_error');
    const fields = body.error.details.map((detail: { field: string }) => detail.field);
    expect(fields).toContain('body.name');
    expect(fields).toContain('body.count');
  });

  test('error: a missing body is 422, not 500', async () => {
    const response = await call('/items', { method: 'POST' });
    expect(response.status).toBe(422);
  });

  test('error: a non-JSON body is 415 unsupported_media_type', async () => {
    const response = await call('/items', json('name=x', 'text/plain'));
    expect(response.status).toBe(415);
    expect((await readJson(response)).error.code).toBe('unsupported_media_type');
  });

  test('error: a body over the limit is 413 payload_too_large', async () => {
    const response = await call('/items', json(JSON.stringify({ name: 'x'.repeat(2000) })));
    expect(response.status).toBe(413);
    expect((await readJson(response)).error.code).toBe('payload_too_large');
  });

  test('error: AppError keeps its status and headers', async () => {
    const conflict = await call('/items/taken');
    expect(conflict.status).toBe(409);
    expect(await readJson(conflict)).toEqual({
      error: { code: 'conflict', message: 'Already taken', requestId: conflict.headers.get('x-request-id') },
    });
    const limited = await call('/items/slow');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
  });

  test('error: an unexpected error is 500 internal_error with no internals, logged with the request id', async () => {
    const response = await call('/items/boom', { headers: { 'x-request-id': 'trace-500' } });
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal_error', message: 'Internal server error', requestId: 'trace-500' } });
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('app.ts');
    const logged = logs.find((line) => line.msg === 'unhandled error');
    expect(logged?.requestId).toBe('trace-500');
  });

  test('error: an unknown route is 404 not_found in the same shape', async () => {
    const response = await call('/nowhere');
    expect(response.status).toBe(404);
    expect(await readJson(response)).toEqual({
      error: { code: 'not_found', message: 'No route for GET /nowhere', requestId: response.headers.get('x-request-id') },
    });
  });

  test('error: a deliberate 5xx is logged with its request id, and the body names it; a 4xx is not logged as a failure', async () => {
    const before = logs.length;
    const down = await call('/items/down', { headers: { 'x-request-id': 'trace-503' } });
    expect(down.status).toBe(503);
    expect((await readJson(down)).error).toEqual({ code: 'unavailable', message: 'The store is down', requestId: 'trace-503' });
    await (await call('/items/taken', { headers: { 'x-request-id': 'trace-409' } })).arrayBuffer();
    const failures = logs.slice(before).filter((line) => line.msg === 'request failed');
    expect(failures).toEqual([expect.objectContaining({ requestId: 'trace-503', status: 503, code: 'unavailable' })]);
  });
});

describe('request id, headers and the access log', () => {
  const { call, logs } = plumbingApp();

  test('happy: every response carries X-Request-Id; a sane client id is echoed, anything else replaced', async () => {
    const made = await call('/nowhere');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await call('/items', {
      ...json('{"name":"a"}'),
      headers: { 'content-type': 'application/json', 'x-request-id': 'client-1.2:3' },
    });
    expect(echoed.headers.get('x-request-id')).toBe('client-1.2:3');
    const replaced = await call('/nowhere', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).not.toContain(' ');
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('security: security headers are set', async () => {
    const response = await call('/nowhere');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  test('happy: one JSON line per request with id, method, route, status and duration, and no token', async () => {
    logs.length = 0;
    const token = 'eyJhbGciOiJIUzI1NiJ9.secret-token-value.sig';
    const response = await call('/items', {
      ...json('{"name":"a"}'),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'log-1' },
    });
    expect(response.status).toBe(200);
    await Bun.sleep(5);
    const lines = logs.filter((line) => line.msg === 'request' && line.requestId === 'log-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ requestId: 'log-1', method: 'POST', route: '/items', status: 200, level: 'info' });
    expect(typeof lines[0]!.durationMs).toBe('number');
    expect(JSON.stringify(logs)).not.toContain('secret-token-value');
  });

  test('error: error responses are logged with their status', async () => {
    await call('/items', { ...json('{"name":'), headers: { 'content-type': 'application/json', 'x-request-id': 'e-400' } });
    await call('/nowhere', { headers: { 'x-request-id': 'e-404' } });
    await Bun.sleep(5);
    const statusOf = (id: string) => logs.find((line) => line.msg === 'request' && line.requestId === id)?.status;
    expect([statusOf('e-400'), statusOf('e-404')]).toEqual([400, 404]);
  });
});

describe('logger', () => {
  test('security: redacts secret-looking fields and respects the level', () => {
    const lines: string[] = [];
    const log = createLogger('info', (line) => lines.push(line));
    log.debug('hidden');
    log.info('shown', { password: 'p4ss', apiKey: 'pk_x', refreshToken: 'r', userId: 'u1' });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'shown',
      password: '[redacted]',
      apiKey: '[redacted]',
      refreshToken: '[redacted]',
      userId: 'u1',
    });
  });
});

describe('app composition', () => {
  let app: Awaited<ReturnType<typeof import('../helpers/app.ts').createTestApp>>;
  beforeAll(async () => {
    const { createTestApp } = await import('../helpers/app.ts');
    app = await createTestApp({ database: 'sqlite', kv: 'memory' }, { CORS_ORIGINS: 'https://app.example.com' });
  });
  afterAll(() => app.close());

  test('security: CORS answers allowed origins only', async () => {
    const allowed = await app.request('/health', { headers: { origin: 'https://app.example.com' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const other = await app.request('/health', { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
