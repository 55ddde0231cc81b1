// Housekeeping (src/modules/admin/housekeeping.ts): the scheduled clean-up of sessions, refresh
// tokens and mailed one-time tokens, run once per period across instances, and at once by
// POST /api/v1/admin/sessions/cleanup; on both storage kinds, and on two instances of one deployment.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inArray } from 'drizzle-orm';
import { parseConfig } from '../../src/config/index.ts';
import { serve } from '../../src/index.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { createSecondInstance, createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, bearer, readJson, register, testEnv, waitUntil } from '../helpers/client.ts';
import { cheapPasswordHashes } from '../helpers/services.ts';

const hour = 3_600_000;
const past = () => new Date(Date.now() - hour);
const future = () => new Date(Date.now() + hour);

/** For a fresh user: an expired session (with a refresh token), a live session with an expired and a live refresh token, an expired and a live mailed token. */
async function seed(app: TestApp, userId: string) {
  const { sessions, refreshTokens, oneTimeTokens } = app.infra.db.tables;
  const id = () => Bun.randomUUIDv7();
  const expiredSession = id();
  const liveSession = id();
  const ids = {
    sessions: { expired: expiredSession, live: liveSession },
    refresh: { ofExpiredSession: `rt-${id()}`, expired: `rt-${id()}`, live: `rt-${id()}` },
    mailed: { expired: `ot-${id()}`, live: `ot-${id()}` },
  };
  await app.infra.db.run((q) =>
    q.insert(sessions).values([
      { id: expiredSession, userId, lastSeenAt: past(), expiresAt: past() },
      { id: liveSession, userId, lastSeenAt: new Date(), expiresAt: future() },
    ]),
  );
  await app.infra.db.run((q) =>
    q.insert(refreshTokens).values([
      { tokenHash: ids.refresh.ofExpiredSession, sessionId: expiredSession, expiresAt: future() },
      { tokenHash: ids.refresh.expired, sessionId: liveSession, expiresAt: past() },
      { tokenHash: ids.refresh.live, sessionId: liveSession, expiresAt: future() },
    ]),
  );
  await app.infra.db.run((q) =>
    q.insert(oneTimeTokens).values([
      { tokenHash: ids.mailed.expired, userId, purpose: 'reset_password', email: 'x@example.com', expiresAt: past() },
      { tokenHash: ids.mailed.live, userId, purpose: 'verify_email', email: 'x@example.com', expiresAt: future() },
    ]),
  );
  return ids;
}

/** Which of the seeded rows are still there. */
async function left(app: TestApp, ids: Awaited<ReturnType<typeof seed>>) {
  const { sessions, refreshTokens, oneTimeTokens } = app.infra.db.tables;
  const s = await app.infra.db.run((q) =>
    q
      .select({ id: sessions.id })
      .from(sessions)
      .where(inArray(sessions.id, Object.values(ids.sessions))),
  );
  const r = await app.infra.db.run((q) =>
    q
      .select({ id: refreshTokens.tokenHash })
      .from(refreshTokens)
      .where(inArray(refreshTokens.tokenHash, Object.values(ids.refresh))),
  );
  const o = await app.infra.db.run((q) =>
    q
      .select({ id: oneTimeTokens.tokenHash })
      .from(oneTimeTokens)
      .where(inArray(oneTimeTokens.tokenHash, Object.values(ids.mailed))),
  );
  return { sessions: s.map((row) => row.id), refresh: r.map((row) => row.id), mailed: o.map((row) => row.id) };
}

const ranLines = (app: TestApp) => app.logs.filter((line) => line.msg === 'housekeeping task ran');

for (const [name, kind] of kinds) {
  describe(`housekeeping on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, HOUSEKEEPING_INTERVAL_MS: '200' });
    });
    afterAll(() => app.close());

    test('happy: not started by tests unless asked', async () => {
      await Bun.sleep(300);
      expect(ranLines(app)).toHaveLength(0);
    });

    test('happy: POST /admin/sessions/cleanup removes expired sessions, refresh and mailed tokens, keeps live ones, and reports counts', async () => {
      const account = await register(app);
      const ids = await seed(app, account.userId);
      const response = await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin });
      expect(response.status).toBe(200);
      const report = await readJson(response);
      expect(Object.keys(report).sort()).toEqual([
        'oneTimeTokens',
        'orphanedUploads',
        'ranAt',
        'refreshTokens',
        'sessions',
        'total',
        'usageRolledUp',
      ]);
      expect(report.sessions).toBeGreaterThanOrEqual(1);
      expect(report.refreshTokens).toBeGreaterThanOrEqual(1);
      expect(report.oneTimeTokens).toBeGreaterThanOrEqual(1);
      expect(report.total).toBe(
        report.sessions + report.refreshTokens + report.oneTimeTokens + report.orphanedUploads + report.usageRolledUp,
      );
      expect(Math.abs(Date.parse(report.ranAt) - Date.now())).toBeLessThan(60_000);
      expect(await left(app, ids)).toEqual({
        sessions: [ids.sessions.live],
        refresh: [ids.refresh.live],
        mailed: [ids.mailed.live],
      });
      // The account's own session is live and still works.
      expect((await app.request('/api/v1/auth/me', { headers: bearer(account.accessToken) })).status).toBe(200);
      const again = await readJson(await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin }));
      expect(again).toMatchObject({ sessions: 0, refreshTokens: 0, oneTimeTokens: 0, total: 0 });
    });

    test('happy: the scheduler, once started, removes expired rows on its own and keeps live ones; stop ends it', async () => {
      const account = await register(app);
      const ids = await seed(app, account.userId);
      app.services.housekeeping.start();
      try {
        await waitUntil(async () => (await left(app, ids)).mailed.length === 1, 'the scheduled clean-up');
        expect(await left(app, ids)).toEqual({ sessions: [ids.sessions.live], refresh: [ids.refresh.live], mailed: [ids.mailed.live] });
        const line = ranLines(app).findLast((l) => l.task === 'credentials')!;
        expect(line).toMatchObject({ task: 'credentials' });
        expect(typeof line.period).toBe('number');
      } finally {
        await app.services.housekeeping.stop();
      }
      const runs = ranLines(app).length;
      await Bun.sleep(500);
      expect(ranLines(app)).toHaveLength(runs);
    });

    test('error: a failing task is logged and the scheduler goes on', async () => {
      const { createHousekeeping } = await import('../../src/modules/admin/housekeeping.ts');
      let calls = 0;
      const housekeeping = createHousekeeping({
        kv: app.infra.kv,
        log: app.infra.log,
        intervalMs: 100,
        instanceId: 'test',
        tasks: [
          {
            name: `failing-${Bun.randomUUIDv7()}`,
            run: async () => {
              calls++;
              throw new Error('database away');
            },
          },
        ],
      });
      housekeeping.start();
      try {
        await waitUntil(() => calls >= 2, 'two periods of a failing task');
      } finally {
        await housekeeping.stop();
      }
      expect(app.logs.some((line) => line.msg === 'housekeeping task failed; tried again next period')).toBe(true);
    });
  });
}

const shared = kinds.find(([, kind]) => kind.database === 'postgres' && kind.kv === 'redis')?.[1];
if (shared) {
  describe('housekeeping on two instances of one deployment', () => {
    let first: TestApp;
    let second: TestApp;
    const intervalMs = 250;
    beforeAll(async () => {
      first = await createTestApp(shared, { ...testEnv, HOUSEKEEPING_INTERVAL_MS: String(intervalMs) });
      second = await createSecondInstance(first, { ...testEnv, HOUSEKEEPING_INTERVAL_MS: String(intervalMs) });
    });
    afterAll(async () => {
      await second?.close();
      await first?.close();
    });

    test('happy: both running the scheduler at once, each task runs once per period cluster-wide', async () => {
      const account = await register(first);
      const ids = await seed(first, account.userId);
      first.services.housekeeping.start();
      second.services.housekeeping.start();
      await Bun.sleep(intervalMs * 6);
      await Promise.all([first.services.housekeeping.stop(), second.services.housekeeping.stop()]);

      const allRuns = [...ranLines(first), ...ranLines(second)];
      const periods = allRuns.map((line) => `${line.task}:${line.period}`);
      expect(new Set(periods).size).toBe(periods.length);
      const runs = allRuns.filter((line) => line.task === 'credentials');
      expect(runs.length).toBeGreaterThanOrEqual(4);
      expect(runs.length).toBeLessThanOrEqual(8);
      expect(await left(first, ids)).toEqual({ sessions: [ids.sessions.live], refresh: [ids.refresh.live], mailed: [ids.mailed.live] });
      // Exactly one run removed the seeded rows; the others found nothing more of them.
      const seededRemovals = runs.filter((line) => ((line.removed as Record<string, number>).oneTimeTokens ?? 0) > 0);
      expect(seededRemovals).toHaveLength(1);
    });
  });
}

describe('housekeeping on the server serve() starts', () => {
  test('happy: serve() starts the scheduler and shutdown stops it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-housekeeping-'));
    const lines: Record<string, unknown>[] = [];
    const config = parseConfig({
      DATA_DIR: dataDir,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      HOUSEKEEPING_INTERVAL_MS: '100',
      ...cheapPasswordHashes,
    });
    const running = await serve(
      config,
      createLogger('info', (line) => lines.push(JSON.parse(line))),
    );
    const ran = () => lines.filter((line) => line.msg === 'housekeeping task ran').length;
    try {
      await waitUntil(() => ran() >= 2, 'two scheduled runs');
    } finally {
      await running.shutdown('test over');
      rmSync(dataDir, { recursive: true, force: true });
    }
    const after = ran();
    await Bun.sleep(300);
    expect(ran()).toBe(after);
  });
});
