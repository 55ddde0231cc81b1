// `parley seed` on both databases: demo users (an admin among them), chats with messages and a
// featured chat in an empty database, usable through the API with the printed passwords; a
// database with users refused unless --force, which adds the demo users that are missing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { runCli } from '../helpers/cli.ts';
import { asAdmin, bearer, expectStatus, type Json, login, register, testEnv } from '../helpers/client.ts';
import { cheapPasswordHashes, createTestDatabase, hasPostgres } from '../helpers/services.ts';

// Each test starts the CLI as a process: seconds on a busy 2-core machine (tests/setup.ts's default reaches only a run's first file).
setDefaultTimeout(60_000);

/** The demo users the seed printed, with their passwords. */
const printedUsers = (stdout: string) =>
  [...stdout.matchAll(/^ {2}user (\S+) \((\w+), (\w+)\) password: (\S+)$/gm)].map(([, email, role, tier, password]) => ({
    email: email!,
    role: role!,
    tier: tier!,
    password: password!,
  }));

const databases: [string, boolean][] = [
  ['sqlite', true],
  ['postgres', hasPostgres],
];

for (const [name, available] of databases) {
  describe.if(available)(`parley seed on ${name}`, () => {
    let dir: string;
    let env: Record<string, string>;
    let dropDatabase: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'parley-seed-'));
      env = { DATA_DIR: dir, ECHO_DELAY_MS: '0', JWT_SECRET: 's'.repeat(40) };
      if (name === 'postgres') {
        const database = await createTestDatabase();
        env.DATABASE_URL = database.url;
        dropDatabase = database.drop;
      }
    });
    afterAll(async () => {
      await dropDatabase?.();
      rmSync(dir, { recursive: true, force: true });
    });

    /** The app on the seeded database (its own KV), closed after `work`. */
    const withApp = async <T>(work: (app: TestApp) => Promise<T>): Promise<T> => {
      const app = await createTestApp(undefined, { ...testEnv, ...env });
      try {
        return await work(app);
      } finally {
        await app.close();
      }
    };

    test('happy: an empty database gets an admin, users, chats with replies and a featured chat; the printed passwords sign in', async () => {
      const seeded = await runCli(['seed'], env, dir);
      expect(seeded.stderr).toBe('');
      expect(seeded.code).toBe(0);
      const users = printedUsers(seeded.stdout);
      expect(users.map(({ email, role, tier }) => ({ email, role, tier }))).toEqual([
        { email: 'admin@parley.demo', role: 'admin', tier: 'enterprise' },
        { email: 'alice@parley.demo', role: 'user', tier: 'pro' },
        { email: 'bob@parley.demo', role: 'user', tier: 'free' },
      ]);
      expect(new Set(users.map((user) => user.password)).size).toBe(3);
      expect(seeded.stdout).toContain('pipeline "Summarise and title" of admin@parley.demo');

      await withApp(async (app) => {
        const admin = await login(app, 'admin@parley.demo', users[0]!.password);
        expect(admin.user.role).toBe('admin');
        const overview = await expectStatus(await app.request('/api/v1/admin/overview', { headers: bearer(admin.accessToken) }), 200);
        expect(overview.users).toMatchObject({ total: 3, byRole: { admin: 1, user: 2, guest: 0 } });
        expect(overview.chats).toEqual({ total: 4, featured: 1 });
        expect(overview.messages).toEqual({ total: 14, streaming: 0 });
        expect(overview.usage.byProvider.map((p: Json) => [p.provider, p.requests])).toEqual([['echo', 7]]);

        const alice = await login(app, 'alice@parley.demo', users[1]!.password);
        const chats = await expectStatus(await app.request('/api/v1/chats', { headers: bearer(alice.accessToken) }), 200);
        expect(chats.data.map((chat: Json) => chat.title).sort()).toEqual(['Sourdough basics', 'Weekend in Lisbon']);
        const lisbon = chats.data.find((chat: Json) => chat.title === 'Weekend in Lisbon');
        const full = await expectStatus(await app.request(`/api/v1/chats/${lisbon.id}`, { headers: bearer(alice.accessToken) }), 200);
        expect(full.messages.map((m: Json) => [m.role, m.status])).toEqual([
          ['user', 'complete'],
          ['assistant', 'complete'],
          ['user', 'complete'],
          ['assistant', 'complete'],
        ]);
        expect(full.messages[1].content).toBe(full.messages[0].content);

        const featured = await expectStatus(await app.request('/api/v1/chats/featured'), 200);
        expect(featured.data.map((chat: Json) => chat.title)).toEqual(['Welcome to Parley']);
      });
    });

    test('error: a database with users is refused without --force, and nothing is added', async () => {
      const again = await runCli(['seed'], env, dir);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already has 3 user(s)');
      expect(again.stderr).toContain('--force');
      expect(again.stdout).toBe('');
      await withApp(async (app) => {
        const overview = await expectStatus(await app.request('/api/v1/admin/overview', { headers: asAdmin }), 200);
        expect(overview.users.total).toBe(3);
        expect(overview.chats.total).toBe(4);
      });
    });

    test('happy: --force leaves existing demo users as they are and adds the missing ones beside other data', async () => {
      const forced = await runCli(['seed', '--force'], env, dir);
      expect(forced.code).toBe(0);
      expect(printedUsers(forced.stdout)).toEqual([]);
      expect(forced.stdout.match(/exists, left as it is/g)).toHaveLength(3);
      await withApp(async (app) => {
        const overview = await expectStatus(await app.request('/api/v1/admin/overview', { headers: asAdmin }), 200);
        expect(overview.users.total).toBe(3);
        expect(overview.chats.total).toBe(4);
      });
    });
  });
}

describe('parley seed --force beside other data', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'parley-seed-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('happy: a database holding someone else is refused, then --force adds the demo users and keeps them', async () => {
    const env = { DATA_DIR: dir, ECHO_DELAY_MS: '0', JWT_SECRET: 's'.repeat(40) };
    const app = await createTestApp(undefined, { ...testEnv, ...env });
    let existing: Awaited<ReturnType<typeof register>>;
    try {
      existing = await register(app);
    } finally {
      await app.close();
    }
    expect((await runCli(['seed'], env, dir)).code).toBe(1);
    const forced = await runCli(['seed', '--force'], env, dir);
    expect(forced.code).toBe(0);
    expect(printedUsers(forced.stdout)).toHaveLength(3);
    const after = await createTestApp(undefined, { ...testEnv, ...env });
    try {
      const overview = await expectStatus(await after.request('/api/v1/admin/overview', { headers: asAdmin }), 200);
      expect(overview.users.total).toBe(4);
      await login(after, existing.email, existing.password);
    } finally {
      await after.close();
    }
  });
});

test('happy: `parley seed | head -1` ends quietly (exit 0, nothing on stderr) when its reader goes away', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-seed-pipe-'));
  try {
    const cli = join(import.meta.dir, '../../src/cli.ts');
    const proc = Bun.spawn(['/bin/sh', '-c', `"${process.execPath}" "${cli}" seed | head -1`], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, DATA_DIR: dir, ECHO_DELAY_MS: '0', ...cheapPasswordHashes },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    expect(stdout).toStartWith('seeding sqlite ');
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toBe('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
