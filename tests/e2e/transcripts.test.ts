// Transcripts end to end through the compiled executable: on SQLite with no configuration, and on
// two executables sharing Postgres and Redis, where a change on one is read on the other at once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, type RunningBinary, startBinary } from '../helpers/binary.ts';
import { createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from '../helpers/services.ts';

// biome-ignore lint: response bodies are inspected field by field
type Json = any;

const request = async (base: string, method: string, path: string, token: string, body?: unknown) =>
  fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function expectJson(response: Response, status: number): Promise<Json> {
  const text = await response.text();
  expect(`${response.status} ${text}`).toStartWith(`${status} `);
  return text ? JSON.parse(text) : undefined;
}

async function registerOn(base: string): Promise<string> {
  const response = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${crypto.randomUUID()}@example.com`, password: 'correct horse battery' }),
  });
  return (await expectJson(response, 201)).accessToken;
}

/** A chat with one echoed turn, frozen as a transcript; the transcript. */
async function frozenChat(base: string, token: string, title: string, content: string): Promise<Json> {
  const chat = await expectJson(await request(base, 'POST', '/chats', token, { title, provider: 'echo' }), 201);
  await expectJson(await request(base, 'POST', `/chats/${chat.id}/messages`, token, { content, stream: false }), 200);
  return expectJson(await request(base, 'POST', '/transcripts', token, { chatId: chat.id }), 201);
}

describe('transcripts through the executable (SQLite, no configuration)', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let server: RunningBinary;
  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    server = await startBinary({ path: binary.path, cwd: binary.dir, env: { RATE_LIMIT_ENABLED: 'false', ECHO_DELAY_MS: '0' } });
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    binary?.remove();
  });

  test('happy: create, read as JSON, Markdown and text, search, rename and delete', async () => {
    const token = await registerOn(server.url);
    const created = await frozenChat(server.url, token, 'Résumé tips', 'platypus résumé advice');
    expect(created.messages.map((m: Json) => m.content)).toEqual(['platypus résumé advice', 'platypus résumé advice']);
    expect(await expectJson(await request(server.url, 'GET', `/transcripts/${created.id}`, token), 200)).toEqual(created);

    const md = await request(server.url, 'GET', `/transcripts/${created.id}?format=md`, token);
    expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(md.headers.get('content-disposition')).toBe(
      `attachment; filename="Resume tips.md"; filename*=UTF-8''R%C3%A9sum%C3%A9%20tips.md`,
    );
    expect(await md.text()).toStartWith('# Résumé tips\n');
    const txt = await request(server.url, 'GET', `/transcripts/${created.id}?format=txt`, token);
    expect(txt.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await txt.text()).toContain('\nUser · ');

    const found = await expectJson(await request(server.url, 'GET', '/transcripts/search?q=platyp', token), 200);
    expect(found.data[0].matches[0]).toEqual({ position: 0, snippet: 'platypus résumé advice', highlights: [{ start: 0, end: 8 }] });

    await expectJson(await request(server.url, 'PATCH', `/transcripts/${created.id}`, token, { title: 'Renamed' }), 200);
    expect((await expectJson(await request(server.url, 'GET', `/transcripts/${created.id}`, token), 200)).title).toBe('Renamed');
    expect((await request(server.url, 'DELETE', `/transcripts/${created.id}`, token)).status).toBe(204);
    await expectJson(await request(server.url, 'GET', `/transcripts/${created.id}`, token), 404);
  });
});

describe.if(hasPostgres && hasRedis)('transcripts through two executables on one Postgres and Redis', () => {
  let a: RunningBinary;
  let b: RunningBinary;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const binary = await copyBinaryToEmptyDir();
    const database = await createTestDatabase();
    const redis = createTestRedisPrefix();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: redis.prefix,
      JWT_SECRET: 'shared-secret-for-both-instances-0123456789',
      RATE_LIMIT_ENABLED: 'false',
      ECHO_DELAY_MS: '0',
    };
    a = await startBinary({ path: binary.path, cwd: binary.dir, env: { ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-a-')) } });
    b = await startBinary({ path: binary.path, cwd: binary.dir, env: { ...env, DATA_DIR: mkdtempSync(join(tmpdir(), 'parley-b-')) } });
    cleanup = async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis.cleanup();
      await database.drop();
      binary.remove();
    };
  }, 180_000);
  afterAll(() => cleanup?.());

  test('happy: B reads A’s transcript from its cache, then sees A’s change and delete at once; search works on Postgres', async () => {
    const token = await registerOn(a.url);
    const created = await frozenChat(a.url, token, 'Shared', 'narwhal migration routes');
    expect(await expectJson(await request(b.url, 'GET', `/transcripts/${created.id}`, token), 200)).toEqual(created);
    expect(await expectJson(await request(b.url, 'GET', `/transcripts/${created.id}`, token), 200)).toEqual(created);

    await expectJson(await request(a.url, 'PATCH', `/transcripts/${created.id}`, token, { title: 'Changed on A' }), 200);
    expect((await expectJson(await request(b.url, 'GET', `/transcripts/${created.id}`, token), 200)).title).toBe('Changed on A');

    const found = await expectJson(await request(b.url, 'GET', '/transcripts/search?q=narwhal', token), 200);
    expect(found.data.map((hit: Json) => hit.transcript.id)).toEqual([created.id]);
    expect(found.data[0].matches[0].highlights).toEqual([{ start: 0, end: 7 }]);

    expect((await request(a.url, 'DELETE', `/transcripts/${created.id}`, token)).status).toBe(204);
    await expectJson(await request(b.url, 'GET', `/transcripts/${created.id}`, token), 404);
  });
});
