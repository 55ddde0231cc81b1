import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, storageKinds, type TestApp } from '../helpers/app.ts';
import { hasPostgres, hasRedis } from '../helpers/services.ts';

// biome-ignore lint: response bodies are inspected field by field
const readJson = (response: Response): Promise<any> => response.json();

for (const [name, kind] of storageKinds({ postgres: hasPostgres, redis: hasRedis })) {
  describe(`health on ${name}`, () => {
    let app: TestApp;
    const secrets = {
      JWT_SECRET: 'jwt-secret-value-that-is-long-enough-1234',
      ADMIN_API_KEY: 'admin-key-value-1234567890',
      OPENAI_API_KEY: 'sk-openai-secret',
    };
    beforeAll(async () => {
      app = await createTestApp(kind, { ...secrets, OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    });
    afterAll(() => app.close());

    test('happy: GET /health is liveness', async () => {
      const response = await app.request('/health');
      expect(response.status).toBe(200);
      expect(await readJson(response)).toEqual({ status: 'ok' });
    });

    test('happy: GET /api/v1/health/detailed reports each dependency, and nothing secret', async () => {
      const response = await app.request('/api/v1/health/detailed');
      expect(response.status).toBe(200);
      const text = await response.text();
      const body = JSON.parse(text);
      expect(body.status).toBe('ok');
      expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
      // Counted from when this app's infra opened, in whole seconds.
      const sinceStart = (Date.now() - app.infra.startedAt.getTime()) / 1000;
      expect(Math.abs(body.uptimeSeconds - sinceStart)).toBeLessThanOrEqual(1.5);
      expect(body.database).toMatchObject({ kind: kind.database, status: 'ok', latencyMs: expect.any(Number) });
      expect(body.kv).toMatchObject({ kind: kind.kv, status: 'ok' });
      expect(body.providers).toEqual(['openai', 'echo']);
      for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
      expect(text).not.toContain('postgres://');
    });

    test('error: a database that stops answering is reported down with 503, without hanging', async () => {
      const other = await createTestApp(kind);
      await other.infra.db.close();
      const response = await other.request('/api/v1/health/detailed');
      expect(response.status).toBe(503);
      const body = await readJson(response);
      expect(body.status).toBe('down');
      expect(body.database.status).toBe('down');
      await other.infra.kv.close();
    });
  });
}

describe('OpenAPI document', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

  test('happy: describes the routes, with schemas, and hides its own plumbing', async () => {
    const response = await app.request('/swagger/json');
    expect(response.status).toBe(200);
    const doc = await readJson(response);
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Parley API');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/health', '/api/v1/health/detailed']));
    expect(doc.paths['/health'].get.responses['200']).toBeDefined();
    expect(doc.paths['/swagger/assets/{file}']).toBeUndefined();
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
  });

  test('happy: the UI page loads its script and styles from this server, never a CDN', async () => {
    const html = await (await app.request('/swagger')).text();
    expect(html).toContain('src="/swagger/assets/swagger-ui-bundle.js"');
    expect(html).toContain('href="/swagger/assets/swagger-ui.css"');
    expect(html).not.toMatch(/(src|href)="https?:\/\//);
    const script = await app.request('/swagger/assets/swagger-ui-bundle.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    expect((await app.request('/swagger/assets/other.js')).status).toBe(404);
  });
});

describe('metrics', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp();
  });
  afterAll(() => app.close());

  test('happy: GET /metrics is Prometheus text with request counts by route and status, and live gauges', async () => {
    await app.request('/health');
    await app.request('/health');
    await app.request('/nowhere');
    await Bun.sleep(5);
    const response = await app.request('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('parley_http_requests_total{method="GET",route="/health",status="200"} 2');
    expect(text).toContain('parley_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toMatch(/parley_http_request_duration_seconds_count\{route="\/health"\} 2/);
    expect(text).toContain('parley_generations_active 0');
    expect(text).toContain('parley_kv_up 1');
  });
});
