// The Swagger page renders fully with no internet: the real executable, copied alone to an empty
// directory, serves the UI's script and styles itself, and headless Chromium (which can resolve
// no host but 127.0.0.1) runs them, fetches /swagger/json and draws the operations.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { chromiumPath, type HeadlessResult, loadHeadless } from '../helpers/chromium.ts';

const chromiumRequired = process.env.REQUIRE_SERVICES === '1' || Boolean(process.env.CI);
if (!chromiumPath) {
  const reason = 'Chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)';
  if (chromiumRequired) throw new Error(`${reason}, but CI/REQUIRE_SERVICES=1 needs the offline Swagger UI check`);
  console.warn(`[skip] ${reason}: the offline Swagger UI browser checks are skipped`);
}

/** Attribute values of `<script src>` and `<link href>` in an HTML page. */
function assetReferences(html: string): string[] {
  const refs: string[] = [];
  for (const match of html.matchAll(/<(?:script|link)\b[^>]*?\s(?:src|href)\s*=\s*["']([^"']*)["']/gi)) {
    if (match[1] !== undefined) refs.push(match[1]);
  }
  return refs;
}

describe('Swagger UI offline (compiled executable)', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let server: RunningBinary;
  let dataDir: string;
  let shotDir: string;

  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    dataDir = mkdtempSync(join(tmpdir(), 'parley-docs-data-'));
    shotDir = mkdtempSync(join(tmpdir(), 'parley-docs-shot-'));
    server = await startBinary({ path: binary.path, cwd: binary.dir, env: { DATA_DIR: dataDir } });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    binary?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (shotDir && !process.env.KEEP_DOCS_SCREENSHOT) rmSync(shotDir, { recursive: true, force: true });
  });

  test('happy: the /swagger page references only same-origin assets', async () => {
    const res = await fetch(`${server.url}/swagger`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type') ?? '').toContain('text/html');
    const html = await res.text();
    const refs = assetReferences(html);
    expect(refs).toContain('/swagger/assets/swagger-ui-bundle.js');
    expect(refs).toContain('/swagger/assets/swagger-ui.css');
    const origin = new URL(server.url).origin;
    for (const ref of refs) {
      const resolved = new URL(ref, `${origin}/swagger`);
      expect(resolved.origin).toBe(origin);
    }
    // No absolute or protocol-relative URL to another host anywhere in the page.
    expect([...html.matchAll(/(?:https?:)?\/\/[a-z0-9-]+(?:\.[a-z0-9-]+)+/gi)].map((m) => m[0])).toEqual([]);
    // The UI is told to load the document from this server, by an absolute path.
    expect(html).toContain('"url":"/swagger/json"');
  });

  test.each([
    ['swagger-ui-bundle.js', 'text/javascript', 500_000],
    ['swagger-ui.css', 'text/css', 50_000],
  ] as const)('happy: /swagger/assets/%s is served from the executable', async (file, type, minBytes) => {
    const res = await fetch(`${server.url}/swagger/assets/${file}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type') ?? '').toStartWith(type);
    const body = await res.text();
    expect(body.length).toBeGreaterThan(minBytes);
    if (file.endsWith('.js')) expect(body).toContain('SwaggerUIBundle');
    else expect(body).toContain('.swagger-ui');
  });

  test('error: /swagger/assets/ answers 404 for an unknown file', async () => {
    const res = await fetch(`${server.url}/swagger/assets/nope.js`);
    expect(res.status).toBe(404);
  });

  describe.if(Boolean(chromiumPath))('in headless Chromium with no internet', () => {
    const pages = new Map<string, HeadlessResult>();
    let screenshotPath: string;

    beforeAll(async () => {
      screenshotPath = join(shotDir, 'swagger.png');
      pages.set('/swagger', await loadHeadless(`${server.url}/swagger`, { screenshotPath }));
      // With a trailing slash a relative spec URL would resolve to /swagger/swagger/json.
      pages.set('/swagger/', await loadHeadless(`${server.url}/swagger/`));
      if (process.env.KEEP_DOCS_SCREENSHOT) console.log(`[docs-offline] screenshot: ${screenshotPath}`);
    }, 120_000);

    test.each(['/swagger', '/swagger/'])('happy: %s: the UI script ran, fetched /swagger/json and rendered the API', (path) => {
      const dom = pages.get(path)?.dom ?? '';
      // Swagger UI shows this when the document cannot be fetched or parsed.
      expect(dom).not.toContain('Failed to load API definition');
      expect(dom).not.toContain('No API definition provided');
      // The container Swagger UI renders into the empty mount point of the served HTML.
      expect(dom).toMatch(/<div id="swagger-ui"><div class="swagger-ui">/);
      // The info title, rendered from the OpenAPI document (not the page's <title>).
      expect(dom).toMatch(/<h[1-6] class="title">\s*Parley API/);
      // Operation blocks for the health routes.
      const opblocks = [...dom.matchAll(/<div class="opblock opblock-get[^"]*" id="operations-[^"]+">/g)];
      expect(opblocks.length).toBeGreaterThanOrEqual(2);
      expect(dom).toMatch(/class="opblock-summary-path" data-path="\/health"/);
      expect(dom).toMatch(/class="opblock-summary-path" data-path="\/api\/v1\/health\/detailed"/);
    });

    test('happy: the screenshot is a non-trivial PNG', async () => {
      const bytes = new Uint8Array(await Bun.file(screenshotPath).arrayBuffer());
      expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(statSync(screenshotPath).size).toBeGreaterThan(10_000);
    });
  });
});
