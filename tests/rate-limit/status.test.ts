// GET /rate-limit shows every limit in force (issue 12, point 2): besides the LLM windows, tokens,
// concurrent replies, search and uploads, the general per-IP limit and the storage quota, with
// what is left of each. Found missing by a fresh run against the executable.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { adminKey, rateLimit, register } from '../helpers/client.ts';
import { uploadSample } from '../helpers/files.ts';
import { samples } from '../helpers/samples.ts';

describe.each(kinds)('GET /rate-limit lists every limit (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, {
      ADMIN_API_KEY: adminKey,
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MAX_REQUESTS: '500',
      TIER_LIMITS_FREE: 'storage=5000',
    });
  });
  afterAll(() => app.close());

  test('happy: the general per-IP limit counts down; the storage quota shows the bytes used and left', async () => {
    const account = await register(app);
    const before = await rateLimit(app, account.accessToken);
    expect(before.storage).toEqual({ limit: 5000, used: 0, remaining: 5000 });
    expect(before.general.limit).toBe(500);
    await uploadSample(app, account.accessToken, 'photo.png');
    const after = await rateLimit(app, account.accessToken);
    const size = samples.png.data.byteLength;
    expect(after.storage).toEqual({ limit: 5000, used: size, remaining: 5000 - size });
    expect(after.general.remaining).toBeLessThan(before.general.remaining);
    expect(after.general.reset).toBeGreaterThan(0);
  });
});
