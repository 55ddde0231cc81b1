// The orphan sweep (housekeeping task `orphaned uploads`): bytes in storage with no file row an
// hour after their last write (an upload cut off by a crash, files of a deleted user) are removed;
// fresh ones (an upload in progress) and those of files are kept. Run by the scheduler and by
// POST /admin/sessions/cleanup, which reports how many it removed. Both storage kinds; disk only,
// as only there can a test make a blob an hour old.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, expectStatus, register, testEnv, waitUntil } from '../helpers/client.ts';
import { storedKeys, uploadSample } from '../helpers/files.ts';

const hourAgo = () => new Date(Date.now() - 61 * 60 * 1000);

for (const [name, kind] of kinds) {
  describe(`orphan sweep on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    /** Writes bytes with no row, as an interrupted upload leaves them, `old` or just now. */
    async function orphan(old: boolean): Promise<string> {
      const key = Bun.randomUUIDv7();
      await app.infra.storage.write(key, new Blob(['half an upload']).stream());
      if (old) age(key);
      return key;
    }

    const age = (key: string) => utimesSync(join(app.infra.config.dataDir, 'files', key), hourAgo(), hourAgo());

    test('happy: POST /admin/sessions/cleanup removes hour-old orphans, keeps fresh ones and files’ bytes, and reports the count', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      age(file.id);
      const stale = [await orphan(true), await orphan(true)];
      const fresh = await orphan(false);
      const report = await expectStatus(await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin }), 200);
      expect(report.orphanedUploads).toBe(2);
      expect(report.total).toBe(report.sessions + report.refreshTokens + report.oneTimeTokens + 2);
      const keys = await storedKeys(app);
      expect(keys).toContain(file.id);
      expect(keys).toContain(fresh);
      for (const key of stale) expect(keys).not.toContain(key);
      // The file still downloads.
      expect(
        (await app.request(`/api/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${user.accessToken}` } })).status,
      ).toBe(200);
      const again = await expectStatus(await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin }), 200);
      expect(again.orphanedUploads).toBe(0);
    });

    test('happy: a deleted user’s files are rows no more; their bytes go with the next sweep an hour on', async () => {
      const user = await register(app);
      const file = await uploadSample(app, user.accessToken);
      const { users } = app.infra.db.tables;
      const { eq } = await import('drizzle-orm');
      await app.infra.db.run((q) => q.delete(users).where(eq(users.id, user.userId)));
      age(file.id);
      expect((await app.services.files.sweepOrphans()).orphanedUploads).toBe(1);
      expect(await storedKeys(app)).not.toContain(file.id);
    });

    test('happy: the scheduler runs the sweep on its own', async () => {
      const stale = await orphan(true);
      app.services.housekeeping.start();
      try {
        await waitUntil(async () => !(await storedKeys(app)).includes(stale), 'the scheduled sweep');
      } finally {
        await app.services.housekeeping.stop();
      }
      expect(app.logs.some((line) => line.msg === 'housekeeping task ran' && line.task === 'orphaned uploads')).toBe(true);
    });
  });
}
