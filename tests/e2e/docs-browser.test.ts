// Both docs pages, driven in real Chromium (Playwright) against the compiled executable copied
// alone to an empty directory, with every host but 127.0.0.1 unresolvable: the Swagger page at
// /swagger and the Scalar reference at /docs render from the executable's own assets, reach no
// other host, break no CSP rule, and each runs a request against this server from its own
// request runner (Swagger's "Try it out" → Execute; Scalar's "Test Request" → Send).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { chromiumPath } from '../helpers/chromium.ts';

const chromiumRequired = process.env.REQUIRE_SERVICES === '1' || Boolean(process.env.CI);
if (!chromiumPath) {
  const reason = 'Chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)';
  if (chromiumRequired) throw new Error(`${reason}, but CI/REQUIRE_SERVICES=1 needs the docs pages checked in a browser`);
  console.warn(`[skip] ${reason}: the docs pages' browser checks are skipped`);
}

/** What a page did: every URL it asked for, each answer of 400 or more, and every console error or uncaught exception. */
type PageRecord = { page: Page; requests: string[]; failed: string[]; errors: string[] };

// Chromium asks for /favicon.ico by itself; the Swagger page names none, and the API has none (404).
const favicon = '/favicon.ico';

describe.if(Boolean(chromiumPath))('the docs pages in Chromium with no internet (compiled executable)', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let server: RunningBinary;
  let dataDir: string;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    dataDir = mkdtempSync(join(tmpdir(), 'parley-docs-browser-'));
    server = await startBinary({ path: binary.path, cwd: binary.dir, env: { DATA_DIR: dataDir } });
    origin = new URL(server.url).origin;
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    binary?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function open(path: string, waitUntil: 'load' | 'commit' = 'load'): Promise<PageRecord> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const record: PageRecord = { page, requests: [], failed: [], errors: [] };
    page.on('request', (request) => record.requests.push(request.url()));
    page.on('response', (response) => {
      if (response.status() >= 400 && new URL(response.url()).pathname !== favicon)
        record.failed.push(`${response.status()} ${response.url()}`);
    });
    page.on('console', (message) => {
      // A failed load is reported without its URL; the response handler above has it.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource: the server responded'))
        record.errors.push(message.text());
    });
    page.on('pageerror', (error) => record.errors.push(String(error)));
    await page.goto(`${origin}${path}`, { waitUntil });
    return record;
  }

  /** Nothing but this server was asked for, and nothing failed or was blocked (CSP violations are console errors). */
  function expectSelfContained(record: PageRecord) {
    expect(record.requests.length).toBeGreaterThan(0);
    expect(record.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(record.failed).toEqual([]);
    expect(record.errors).toEqual([]);
  }

  test('happy: /docs renders the API reference from the document, with only this server reached', async () => {
    const record = await open('/docs');
    const { page } = record;
    try {
      await page.getByRole('heading', { name: 'Parley API', exact: true }).waitFor({ timeout: 60_000 });
      // The sidebar lists the document's tags, and an operation of the first one is drawn.
      for (const tag of ['Health', 'Auth', 'Chats', 'Realtime'])
        await expect(page.getByText(tag, { exact: true }).first().isVisible()).resolves.toBe(true);
      await page.getByText('Liveness: the process is up and serving').first().waitFor();
      expect(record.requests).toContain(`${origin}/swagger/json`);
      expect(record.requests).toContain(`${origin}/docs/assets/scalar.js`);
      // No fonts, telemetry, AI agent or request proxy of Scalar's own.
      expect(await page.getByText('Ask AI').count()).toBe(0);
      expectSelfContained(record);
    } finally {
      await page.close();
    }
  }, 90_000);

  test('happy: /api-docs and /redoc lead the browser to the reference at /docs', async () => {
    for (const path of ['/api-docs', '/redoc']) {
      // Where the navigation ends is known once it commits; the page need not finish loading.
      const record = await open(path, 'commit');
      try {
        expect(new URL(record.page.url()).pathname).toBe('/docs');
        expect(record.requests.slice(0, 2)).toEqual([`${origin}${path}`, `${origin}/docs`]);
      } finally {
        await record.page.close();
      }
    }
  }, 60_000);

  test('happy: the reference’s request runner ("Test Request" → Send) calls this server and shows the answer', async () => {
    const record = await open('/docs#tag/health/get/health');
    const { page } = record;
    try {
      await page.getByRole('heading', { name: 'Parley API', exact: true }).waitFor({ timeout: 60_000 });
      await page
        .getByRole('button', { name: /Test Request/i })
        .first()
        .click();
      const answered = page.waitForResponse((response) => response.url() === `${origin}/health`, { timeout: 30_000 });
      await page.getByRole('button', { name: /^Send/ }).first().click();
      const response = await answered;
      expect(response.status()).toBe(200);
      // The runner shows the status and the body it got.
      await page.getByText('200 OK').first().waitFor({ timeout: 10_000 });
      await page.getByText('"status"').first().waitFor({ timeout: 10_000 });
      expect(server.logs.some((line) => line.msg === 'request' && line.route === '/health' && line.status === 200)).toBe(true);
      expectSelfContained(record);
    } finally {
      await page.close();
    }
  }, 90_000);

  test('happy: /swagger renders, and "Try it out" → Execute creates a guest on this server', async () => {
    const record = await open('/swagger');
    const { page } = record;
    try {
      const operation = page.locator('#operations-Auth-postApiV1AuthGuest');
      await operation.waitFor({ timeout: 60_000 });
      await operation.locator('.opblock-summary').first().click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      const answered = page.waitForResponse((response) => response.url() === `${origin}/api/v1/auth/guest`, { timeout: 30_000 });
      await operation.getByRole('button', { name: 'Execute' }).click();
      const response = await answered;
      expect(response.status()).toBe(201);
      // Swagger UI draws the live response: its status and a body holding the new tokens.
      const live = operation.locator('.live-responses-table .response');
      await live.locator('.response-col_status').filter({ hasText: '201' }).waitFor({ timeout: 10_000 });
      await expect(live.locator('.response-col_description').textContent()).resolves.toContain('accessToken');
      expectSelfContained(record);
    } finally {
      await page.close();
    }
  }, 90_000);
});
