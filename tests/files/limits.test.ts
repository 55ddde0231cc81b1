// What bounds uploads beyond a file's size, on both storage kinds: the storage quota of the
// caller's tier (TIER_LIMITS_*: storage=), the upload rate limit (UPLOAD_RATE_LIMIT_PER_HOUR, per
// user, per IP for guests, listed by GET /rate-limit), and Idempotency-Key on both upload routes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, expectError, expectStatus, guest, readJson, register, testEnv } from '../helpers/client.ts';
import { fileRows, storedKeys, upload } from '../helpers/files.ts';
import { samples } from '../helpers/samples.ts';

const quota = 10_000;
const text = (bytes: number, char = 0x61) => new Uint8Array(bytes).fill(char);

for (const [name, kind] of kinds) {
  describe(`storage quota on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, TIER_LIMITS_FREE: `storage=${quota}`, TIER_LIMITS_PRO: 'storage=0' });
    });
    afterAll(() => app.close());

    const send = (user: Account, bytes: number, route: 'upload' | 'upload-multiple' = 'upload', count = 1) =>
      upload(
        app,
        user.accessToken,
        Array.from({ length: count }, (_, i) => ({
          field: route === 'upload' ? 'file' : 'files',
          filename: `f${i}.txt`,
          type: 'text/plain',
          data: text(bytes),
        })),
        { route },
      );

    test('error: a file that would take the user past the quota is 413 saying the quota, what is used and what is needed; nothing is kept', async () => {
      const user = await register(app);
      await expectStatus(await send(user, 6000), 201);
      const keys = await storedKeys(app);
      const refused = await expectError(await send(user, 5000), 413, 'payload_too_large');
      expect(refused.error.message).toContain(`${quota} bytes`);
      expect(refused.error.message).toContain('6000');
      expect(refused.error.details).toMatchObject({ quota, used: 6000 });
      expect(refused.error.details.needed).toBeGreaterThan(quota - 6000);
      expect(await storedKeys(app)).toEqual(keys);
      expect((await fileRows(app, user.userId)).length).toBe(1);
      // What fits still fits, up to the byte.
      await expectStatus(await send(user, 4000), 201);
      await expectError(await send(user, 1), 413, 'payload_too_large');
    });

    test('error: files of one upload count together: three of 4000 bytes are refused whole', async () => {
      const user = await register(app);
      await expectError(await send(user, 4000, 'upload-multiple', 3), 413, 'payload_too_large');
      expect(await fileRows(app, user.userId)).toEqual([]);
      await expectStatus(await send(user, 4000, 'upload-multiple', 2), 201);
    });

    test('security: two uploads at once cannot both pass the quota', async () => {
      const user = await register(app);
      const results = await Promise.all([send(user, 6000), send(user, 6000), send(user, 6000)]);
      expect(results.map((r) => r.status).sort()).toEqual([201, 413, 413]);
      expect((await fileRows(app, user.userId)).length).toBe(1);
    });

    test('happy: deleting files frees room; a tier with storage=0 has no quota', async () => {
      const user = await register(app);
      const first = await expectStatus(await send(user, 9000), 201);
      await expectError(await send(user, 2000), 413, 'payload_too_large');
      await app.request(`/api/v1/files/${first.id}`, { method: 'DELETE', headers: bearer(user.accessToken) });
      await expectStatus(await send(user, 2000), 201);
      const pro = await register(app);
      await app.request(`/api/v1/admin/users/${pro.userId}`, {
        method: 'PATCH',
        headers: { 'x-admin-key': testEnv.ADMIN_API_KEY! },
        json: { tier: 'pro' },
      });
      for (let i = 0; i < 3; i++) await expectStatus(await send(pro, 9000), 201);
    });
  });

  describe(`upload rate limit on ${name}`, () => {
    const max = 3;
    let app: TestApp;
    let ipCounter = 0;
    const uniqueIp = () => `10.44.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;
    beforeAll(async () => {
      app = await createTestApp(kind, {
        ...testEnv,
        RATE_LIMIT_ENABLED: 'true',
        RATE_LIMIT_MAX_REQUESTS: '1000',
        AUTH_RATE_LIMIT_MAX: '1000',
        TRUST_PROXY: 'true',
        UPLOAD_RATE_LIMIT_PER_HOUR: String(max),
      });
    });
    afterAll(() => app.close());

    const at = (ip: string) => ({ 'x-forwarded-for': ip });
    const send = (token: string, ip: string) =>
      upload(app, token, [{ field: 'file', filename: 'a.png', data: samples.png.data }], { headers: at(ip) });

    test(`error: the upload after ${max} in an hour is 429 rate_limited with Retry-After and RateLimit-* headers, on both routes`, async () => {
      const ip = uniqueIp();
      const user = await register(app, { headers: at(ip) });
      for (let i = 1; i <= max; i++) {
        const response = await send(user.accessToken, ip);
        expect(response.status).toBe(201);
        expect(response.headers.get('ratelimit-limit')).toBe(String(max));
        expect(response.headers.get('ratelimit-remaining')).toBe(String(max - i));
      }
      const refused = await send(user.accessToken, ip);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
      expect((await readJson(refused)).error.code).toBe('rate_limited');
      const multiple = await upload(app, user.accessToken, [{ field: 'files', filename: 'a.png', data: samples.png.data }], {
        route: 'upload-multiple',
        headers: at(ip),
      });
      await expectError(multiple, 429, 'rate_limited');
      expect((await fileRows(app, user.userId)).length).toBe(max);
      // Reading files is not limited by it.
      expect((await app.request('/api/v1/files', { headers: { ...bearer(user.accessToken), ...at(ip) } })).status).toBe(200);
    });

    test('security: guests share their address’s budget; registered users have their own', async () => {
      const ip = uniqueIp();
      const viaIp = (path: string, init?: RequestInit & { json?: unknown }) =>
        app.request(path, { ...init, headers: { ...init?.headers, ...at(ip) } });
      const first = await guest(viaIp);
      const second = await guest(viaIp);
      for (let i = 0; i < max; i++) expect((await send(first.accessToken, ip)).status).toBe(201);
      expect((await send(second.accessToken, ip)).status).toBe(429);
      expect((await send(second.accessToken, uniqueIp())).status).toBe(201);
      const member = await register(app, { headers: at(ip) });
      expect((await send(member.accessToken, ip)).status).toBe(201);
    });

    test('happy: GET /rate-limit lists the upload limit beside search, with what is left', async () => {
      const ip = uniqueIp();
      const user = await register(app, { headers: at(ip) });
      const status = async () => readJson(await app.request('/api/v1/rate-limit', { headers: { ...bearer(user.accessToken), ...at(ip) } }));
      const before = await status();
      expect(before.uploads).toEqual({ limit: max, remaining: max, reset: 3600 });
      expect(before.search).toBeDefined();
      await send(user.accessToken, ip);
      const after = await status();
      expect(after.uploads.remaining).toBe(max - 1);
      expect(after.uploads.reset).toBeLessThanOrEqual(3600);
    });
  });

  describe(`idempotent uploads on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    test('happy: a repeat with the same Idempotency-Key gets the first file back, and no second blob or row', async () => {
      const user = await register(app);
      for (const route of ['upload', 'upload-multiple'] as const) {
        const key = crypto.randomUUID();
        const parts = [{ field: route === 'upload' ? 'file' : 'files', filename: 'once.png', data: samples.png.data }];
        const first = await upload(app, user.accessToken, parts, { route, headers: { 'idempotency-key': key } });
        const firstBody = await expectStatus(first, 201);
        const keys = await storedKeys(app);
        const repeat = await upload(app, user.accessToken, parts, { route, headers: { 'idempotency-key': key } });
        expect(repeat.status).toBe(201);
        expect(repeat.headers.get('idempotency-replayed')).toBe('true');
        expect(await repeat.json()).toEqual(firstBody);
        expect(await storedKeys(app)).toEqual(keys);
      }
      expect((await fileRows(app, user.userId)).length).toBe(2);
      // Without a key, each upload is its own file.
      const parts = [{ field: 'file', filename: 'twice.png', data: samples.png.data }];
      await expectStatus(await upload(app, user.accessToken, parts), 201);
      await expectStatus(await upload(app, user.accessToken, parts), 201);
      expect((await fileRows(app, user.userId)).length).toBe(4);
    });

    test('error: a refused upload does not keep its key: the corrected retry with the same key runs', async () => {
      const user = await register(app);
      const key = crypto.randomUUID();
      const bad = await upload(app, user.accessToken, [{ field: 'file', filename: 'x.png', data: samples.exe.data }], {
        headers: { 'idempotency-key': key },
      });
      await expectError(bad, 415, 'unsupported_media_type');
      const good = await upload(app, user.accessToken, [{ field: 'file', filename: 'x.png', data: samples.png.data }], {
        headers: { 'idempotency-key': key },
      });
      expect((await expectStatus(good, 201)).contentType).toBe('image/png');
    });
  });
}
