// The API reference at /docs (Scalar, served from this server): the page loads only this server's
// assets, reads the same document as /swagger, switches off everything of Scalar's that would reach
// another host, has the docs pages' CSP with no inline script allowed, while everything else keeps
// the API's strict one; /api-docs and /redoc redirect to it. Chromium drives it in
// tests/e2e/docs-browser.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { apiCsp } from '../../src/http/transport.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectError, readJson, testEnv } from '../helpers/client.ts';

const strictCsp = "default-src 'none'; frame-ancestors 'none'";

/** `src` of each `<script>` and `href` of each `<link>`, and the text of every inline script. */
function pageParts(html: string) {
  const refs = [...html.matchAll(/<(?:script|link)\b[^>]*?\s(?:src|href)\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1] ?? '');
  const inline = [...html.matchAll(/<script(?![^>]*\ssrc\s*=)[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1] ?? '');
  return { refs, inline };
}

function directives(csp: string): Record<string, string[]> {
  return Object.fromEntries(
    csp.split(';').map((d) => {
      const [name = '', ...values] = d.trim().split(/\s+/);
      return [name, values];
    }),
  );
}

describe('the API reference page (/docs)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(undefined, testEnv);
  });
  afterAll(() => app.close());

  test.each(['/docs', '/docs/'])('happy: %s is an HTML page that loads only this server’s assets and no inline script', async (path) => {
    const res = await app.request(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/html');
    const html = await res.text();
    const { refs, inline } = pageParts(html);
    expect(refs).toEqual(['data:,', '/docs/assets/scalar.js', '/docs/assets/reference.js']);
    expect(inline).toEqual([]);
    expect(html).toContain('<div id="reference"></div>');
    // No absolute or protocol-relative URL to any host.
    expect(html.match(/(?:https?:)?\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)+/gi)).toBeNull();
  });

  test('happy: the boot script points Scalar at /swagger/json, the same document as /swagger, with Scalar’s outside services off', async () => {
    const res = await app.request('/docs/assets/reference.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/javascript');
    const script = await res.text();
    const match = /^Scalar\.createApiReference\('#reference', (\{.*\})\);\n$/.exec(script);
    expect(match).not.toBeNull();
    const config = JSON.parse(match![1]!);
    expect(config).toMatchObject({
      url: '/swagger/json',
      withDefaultFonts: false,
      telemetry: false,
      agent: { disabled: true },
      mcp: { disabled: true },
      hideClientButton: true,
      hideTestRequestButton: false,
    });
    expect(config.proxyUrl).toBeUndefined();
    const doc = await app.request(config.url);
    expect(doc.status).toBe(200);
    expect((await readJson(doc)).info.title).toBe('Parley API');
  });

  test('happy: Scalar’s bundle is served from the executable, compressed when asked', async () => {
    const res = await app.request('/docs/assets/scalar.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('text/javascript');
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
    const body = await res.text();
    expect(body.length).toBeGreaterThan(1_000_000);
    expect(body).toContain('createApiReference');
    const compressed = await app.request('/docs/assets/scalar.js', { headers: { 'accept-encoding': 'gzip' } });
    expect(compressed.headers.get('content-encoding')).toBe('gzip');
    expect(Number(compressed.headers.get('content-length'))).toBeLessThan(body.length / 2);
  });

  test('error: an unknown asset under /docs/assets is a 404 error body', async () => {
    for (const name of ['nope.js', 'constructor', '..%2Fpackage.json']) {
      await expectError(await app.request(`/docs/assets/${name}`), 404, 'not_found');
    }
  });

  test.each(['/api-docs', '/redoc'])('happy: %s redirects to /docs (302)', async (path) => {
    const res = await app.request(path);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/docs');
    expect(await res.text()).toBe('');
  });

  test('security: the page gets the docs CSP with scripts from this origin only; everything around it keeps the strict one', async () => {
    expect(apiCsp).toBe(strictCsp);
    for (const path of ['/docs', '/docs/']) {
      const csp = directives((await app.request(path)).headers.get('content-security-policy') ?? '');
      expect(csp['default-src']).toEqual(["'none'"]);
      expect(csp['script-src']).toEqual(["'self'"]);
      expect(csp['connect-src']).toEqual(["'self'"]);
      expect(csp['img-src']).toEqual(["'self'", 'data:']);
      expect(csp['frame-ancestors']).toEqual(["'none'"]);
      expect(csp['form-action']).toEqual(["'none'"]);
    }
    for (const path of [
      '/docs/assets/scalar.js',
      '/docs/assets/reference.js',
      '/docs/assets/nope',
      '/api-docs',
      '/redoc',
      '/docsx',
      '/health',
    ]) {
      expect((await app.request(path)).headers.get('content-security-policy')).toBe(strictCsp);
    }
  });

  test('happy: none of the docs routes is an operation of the document', async () => {
    const doc = await readJson(await app.request('/swagger/json'));
    expect(Object.keys(doc.paths).filter((path) => /^\/(docs|api-docs|redoc|swagger)\b/.test(path))).toEqual([]);
  });
});
