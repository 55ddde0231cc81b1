// Transport headers on the real server: HSTS only over HTTPS as a trusted proxy reports it,
// FORCE_HTTPS's 308, and the strict API / looser docs Content-Security-Policy.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { parseConfig } from '../../src/config/index.ts';
import { inlineScriptHashes } from '../../src/modules/docs/index.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';

const strictCsp = "default-src 'none'; frame-ancestors 'none'";

type Served = { test: TestApp; url: string };

async function serve(env: Record<string, string>): Promise<Served> {
  const test = await createTestApp(undefined, env);
  test.app.listen({ port: 0, hostname: '127.0.0.1' });
  return { test, url: `http://127.0.0.1:${test.app.server!.port}` };
}

async function stop(served: Served | undefined) {
  await served?.test.app.stop(true);
  await served?.test.close();
}

describe('transport: without TRUST_PROXY', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({});
  });
  afterAll(() => stop(served));

  test('happy: a plain request gets the strict API CSP and no HSTS', async () => {
    const res = await fetch(`${served.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(strictCsp);
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  test('security: a forged X-Forwarded-Proto: https changes nothing', async () => {
    const res = await fetch(`${served.url}/api/v1/health/detailed`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.headers.get('strict-transport-security')).toBeNull();
    expect(res.headers.get('content-security-policy')).toBe(strictCsp);
  });

  test('security: errors carry the strict CSP too', async () => {
    const res = await fetch(`${served.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-security-policy')).toBe(strictCsp);
  });

  test('happy: the docs page gets its own CSP, allowing exactly its inline bootstrap script', async () => {
    const res = await fetch(`${served.url}/swagger`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).not.toBe(strictCsp);
    const directives = Object.fromEntries(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['connect-src']).toEqual(["'self'"]);
    expect(directives['img-src']).toEqual(["'self'", 'data:']);
    expect(directives['style-src']).toContain("'self'");
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    // No 'unsafe-inline' or 'unsafe-eval' for scripts: the page's inline script is allowed by its hash.
    const hashes = inlineScriptHashes(await res.text());
    expect(hashes.length).toBe(1);
    expect(directives['script-src']).toEqual(["'self'", `'${hashes[0]}'`]);
  });

  test('happy: the OpenAPI document and the docs assets keep the strict CSP', async () => {
    for (const path of ['/swagger/json', '/swagger/assets/swagger-ui.css']) {
      const res = await fetch(`${served.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(strictCsp);
    }
  });
});

describe('transport: TRUST_PROXY', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ TRUST_PROXY: 'true' });
  });
  afterAll(() => stop(served));

  test('happy: X-Forwarded-Proto: https from the proxy gets HSTS', async () => {
    const res = await fetch(`${served.url}/health`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
  });

  test('happy: the client-most value of a list counts', async () => {
    const res = await fetch(`${served.url}/health`, { headers: { 'x-forwarded-proto': 'HTTPS, http' } });
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
  });

  test('error: plain HTTP (or no header) gets no HSTS and, without FORCE_HTTPS, no redirect', async () => {
    for (const headers of [{ 'x-forwarded-proto': 'http' }, {}, { 'x-forwarded-proto': 'gopher' }] as Record<string, string>[]) {
      const res = await fetch(`${served.url}/health`, { headers, redirect: 'manual' });
      expect(res.status).toBe(200);
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });
});

describe('transport: FORCE_HTTPS', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ TRUST_PROXY: 'true', FORCE_HTTPS: 'true' });
  });
  afterAll(() => stop(served));

  test('happy: a plain-HTTP GET is redirected 308 to the https URL, path and query kept', async () => {
    const res = await fetch(`${served.url}/api/v1/models?x=1&y=%20z`, {
      headers: { 'x-forwarded-proto': 'http', host: 'api.example.com' },
      redirect: 'manual',
    });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('https://api.example.com/api/v1/models?x=1&y=%20z');
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  test('happy: HEAD and POST are redirected 308 too (the method and body are kept by the client)', async () => {
    for (const method of ['HEAD', 'POST']) {
      const res = await fetch(`${served.url}/api/v1/auth/login`, {
        method,
        headers: { 'x-forwarded-proto': 'http', host: 'api.example.com', 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
        redirect: 'manual',
      });
      expect(res.status).toBe(308);
      expect(res.headers.get('location')).toBe('https://api.example.com/api/v1/auth/login');
    }
  });

  test('happy: HTTPS requests are served, with HSTS', async () => {
    const res = await fetch(`${served.url}/api/v1/models`, { headers: { 'x-forwarded-proto': 'https' }, redirect: 'manual' });
    expect(res.status).not.toBe(308);
    expect(res.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
  });

  test('happy: /health is exempt, for platform probes over plain HTTP', async () => {
    const res = await fetch(`${served.url}/health`, { redirect: 'manual' });
    expect(res.status).toBe(200);
  });
});

describe('transport: configuration', () => {
  test('error: FORCE_HTTPS without TRUST_PROXY is refused (every request would look plain)', () => {
    expect(() => parseConfig({ FORCE_HTTPS: 'true', DATA_DIR: '/tmp' })).toThrow(/FORCE_HTTPS/);
  });
});
