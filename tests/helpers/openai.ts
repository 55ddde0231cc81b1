// For suites that speak to /v1 as OpenAI's clients do: its error shape, its stream, and the app
// listening on a real port (the SDKs need one) behind a Parley API key.
import { afterAll, beforeAll, beforeEach, expect } from 'bun:test';
import type { Env } from '../../src/config/index.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { createTestApp, type StorageKind, type TestApp } from './app.ts';
import { createApiKey, type Json, register } from './client.ts';
import { llmEnv } from './llm.ts';

/**
 * Asserts OpenAI's error body `{error: {message, type, param, code}}` with the given status and
 * type (and `code`/`param` when given); returns the body.
 */
export async function expectOpenAiError(
  response: Response,
  status: number,
  type: string,
  expected: { code?: string | null; param?: string | null } = {},
): Promise<Json> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  const body = JSON.parse(text);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error.type).toBe(type);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  if ('code' in expected) expect(body.error.code).toBe(expected.code);
  if ('param' in expected) expect(body.error.param).toBe(expected.param);
  return body;
}

/** The chat.completion.chunk objects of a streamed completion, which must end with `data: [DONE]`. */
export async function completionChunks(response: Response): Promise<Json[]> {
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const lines = (await response.text()).split('\n').filter((line) => line.startsWith('data: '));
  expect(lines.at(-1)).toBe('data: [DONE]');
  return lines.slice(0, -1).map((line) => JSON.parse(line.slice('data: '.length)));
}

export type Listening = {
  app: TestApp;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `${url}/v1`, the base URL OpenAI's clients take. */
  baseURL: string;
  /** A Parley API key of a fresh user. */
  key: string;
  close(): Promise<void>;
};

/** The app (not listening: `app.request`) with a fresh user's API key, for suites that speak to /v1 in process. */
export async function keyedApp(kind: StorageKind, env: Env): Promise<{ app: TestApp; key: string }> {
  const app = await createTestApp(kind, env);
  const account = await register(app);
  return { app, key: (await createApiKey(app, account.accessToken, { name: 'cases' })).key };
}

/** The app on a real port with a fresh user's API key, for clients that speak HTTP (the SDKs). */
export async function listeningApp(kind: StorageKind, env: Env): Promise<Listening> {
  const app = await createTestApp(kind, env);
  const listening = app.app.listen({ port: 0, hostname: '127.0.0.1' });
  const server = listening.server as unknown as { stop: (force?: boolean) => unknown; port: number };
  const account = await register(app);
  const key = (await createApiKey(app, account.accessToken, { name: 'sdk' })).key;
  const url = `http://127.0.0.1:${server.port}`;
  return {
    app,
    url,
    baseURL: `${url}/v1`,
    key,
    async close() {
      await server.stop(true);
      await app.close();
    },
  };
}

/**
 * For a suite that drives a client library against Parley: the fake upstream, and the app on a
 * real port (SQLite and memory) with every provider pointed at it and a fresh user's API key,
 * started before the suite and stopped after; the fake's records are cleared before each test.
 * Read `fake` and `server` inside tests (they exist once the suite started).
 */
export function serveWithFakeUpstream(): { fake: FakeUpstream; server: Listening } {
  const suite = {} as { fake: FakeUpstream; server: Listening };
  beforeAll(async () => {
    suite.fake = await startFakeUpstream();
    suite.server = await listeningApp({ database: 'sqlite', kv: 'memory' }, llmEnv(suite.fake));
  });
  afterAll(async () => {
    await suite.server?.close();
    await suite.fake?.stop();
  });
  beforeEach(() => suite.fake.reset());
  return suite;
}
