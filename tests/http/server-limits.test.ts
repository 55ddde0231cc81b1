// F15 of ../shared/cases/2026-11-30-break-it.md: Bun's own refusals, on the server as src/index.ts
// starts it (serve(): the same Bun options as the executable). Where the server can shape them, the
// answer is the contract's: a query string a little over a route's limit reaches the route (422
// naming the field), not Bun's bare 431. What Bun refuses before any hook runs (a request head over
// 64 KiB, broken framing) keeps Bun's status, and the server goes on answering.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { maxRequestHeadBytes } from '../../src/http/server-limits.ts';
import { type RunningServer, serve } from '../../src/index.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { bearer, expectError, httpOfUrl, register } from '../helpers/client.ts';
import { cheapPasswordHashes } from '../helpers/services.ts';

/** Writes `raw` to the server over TCP and returns all it answers before closing (or 2 s). */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const done = () => resolve(answer);
    const timer = setTimeout(done, 2000);
    void Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open: (socket) => void socket.write(raw),
        data: (_, data) => void (answer += Buffer.from(data).toString('latin1')),
        close: () => {
          clearTimeout(timer);
          done();
        },
        error: () => {
          clearTimeout(timer);
          done();
        },
      },
    });
  });
}

describe('F15: Bun-level refusals, on the server serve() starts', () => {
  let running: RunningServer;
  let base: string;
  let port: number;
  let token: string;
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-limits-'));

  beforeAll(async () => {
    const config = parseConfig({
      DATA_DIR: dataDir,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      RATE_LIMIT_ENABLED: 'false',
      ...cheapPasswordHashes,
    });
    running = await serve(config, createLogger('error'));
    base = running.url;
    port = Number(new URL(base).port);
    token = (await register(httpOfUrl(base))).accessToken;
  });
  afterAll(async () => {
    await running?.shutdown('test over');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('error: a search q of 20,000 characters (the case’s URL) is 422 query.q in the error shape, not an empty 431', async () => {
    const response = await fetch(`${base}/api/v1/chats/search?q=${'a'.repeat(20_000)}`, { headers: bearer(token) });
    const body = await expectError(response, 422, 'validation_error');
    expect(body.error.details[0].field).toBe('query.q');
    expect(body.error.requestId).toBe(response.headers.get('x-request-id'));
  });

  test('happy: a request head of 48 KiB (a long query and a large header) reaches the app', async () => {
    const response = await fetch(`${base}/api/v1/chats?category=${'c'.repeat(20_000)}`, {
      headers: { ...bearer(token), 'x-filler': 'f'.repeat(28 * 1024) },
    });
    const body = await expectError(response, 422, 'validation_error');
    expect(body.error.details[0].field).toBe('query.category');
    const health = await fetch(`${base}/health`, { headers: { 'x-filler': 'f'.repeat(48 * 1024) } });
    expect(health.status).toBe(200);
    await health.arrayBuffer();
  });

  test(`error: past ${maxRequestHeadBytes / 1024} KiB Bun answers 431 itself (no hook runs: not shapeable), and the server goes on`, async () => {
    const response = await fetch(`${base}/api/v1/chats/search?q=${'a'.repeat(maxRequestHeadBytes + 1024)}`, { headers: bearer(token) });
    expect(response.status).toBe(431);
    await response.arrayBuffer();
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  test('error: broken framing (negative Content-Length, Content-Length with Transfer-Encoding, a garbage request line) is Bun’s 400, and the server goes on', async () => {
    const requests = [
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}',
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
      'GARBAGE\r\n\r\n',
    ];
    for (const raw of requests) expect((await rawExchange(port, raw)).split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    const health = await fetch(`${base}/health`);
    expect(await health.json()).toMatchObject({ status: 'ok' });
  });
});
