// What every outage test checks about a refused request, and how it waits for a dependency.
import { expect } from 'bun:test';
import type { TestApp } from '../helpers/app.ts';
import { waitUntil } from '../helpers/wait.ts';

/**
 * A 503 `unavailable` in the contract's shape (OpenAI's on /v1), with `Retry-After` and the request id, logged as
 * a warning naming that request (never as an unhandled 500).
 */
export async function expectUnavailable(app: TestApp, response: Response, what: string): Promise<void> {
  const text = await response.text();
  expect(`${what}: ${response.status} ${text.slice(0, 300)}`).toStartWith(`${what}: 503 `);
  const body = JSON.parse(text);
  // The OpenAI-compatible routes say it in OpenAI's shape (the request id in the header only).
  const openAi = 'type' in body.error;
  expect(body.error.code).toBe(openAi ? 'service_unavailable' : 'unavailable');
  expect(body.error.message).not.toMatch(/ECONNREFUSED|writeable|CONNECTION_|127\.0\.0\.1/);
  expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  const requestId = response.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  if (openAi) expect(body.error.type).toBe('server_error');
  else expect(body.error.requestId).toBe(requestId!);
  const logged = app.logs.find((line) => line.msg === 'request failed' && line.requestId === requestId);
  expect(logged).toMatchObject({ level: 'warn', status: 503, code: 'unavailable' });
}

/** No request of this app ended in a 500 (an `unhandled error` log line) so far. */
export function expectNoUnhandled(app: TestApp): void {
  const unhandled = app.logs.filter((line) => line.msg === 'unhandled error' || line.msg === 'websocket frame failed');
  expect(unhandled.map((line) => `${line.route}: ${JSON.stringify(line.error)}`)).toEqual([]);
}

/** Waits until the app's KV reports `status` (Redis reconnects within its 2 s retry step). */
export const kvStatus = (app: TestApp, status: 'ok' | 'degraded', timeoutMs = 5000) =>
  waitUntil(() => app.infra.kv.status() === status, `kv ${status}`, timeoutMs, 20);
