// docs/vps.md, run as far as a machine without systemd allows: the built executable started the
// way deploy/parley.service starts it (as the `parley` user the guide creates, with the unit's
// environment, EnvironmentFile, directories, umask and limits, no new privileges, no
// capabilities), Debian's nginx in front of it with deploy/nginx.conf and Debian's Caddy with
// deploy/Caddyfile (ports, certificates and paths moved only). Through each proxy a reply streams
// event by event and a websocket holds; forged client addresses change nothing; the backup
// script runs as `parley` and its copy restores. (units.test.ts runs systemd-analyze on the units.)
import { Database } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBinary, type RunningBinary, repoRoot, startBinary } from '../helpers/binary.ts';
import { bearer, createChat, type Http, readJson, register, uniqueEmail } from '../helpers/client.ts';
import { parseSseBlock } from '../helpers/sse.ts';
import { freePort } from '../helpers/tcp-proxy.ts';
import { WsClient } from '../helpers/ws.ts';
import { caddyPath, type RunningCaddy, rewriteCaddyfile, startCaddy } from './caddy.ts';
import { nginxPath, type RunningNginx, rewriteSite, selfSignedCertificate, startNginx } from './nginx.ts';
import {
  type Account,
  lookupAccount,
  openFilesLimit,
  parseEnvironmentFile,
  parseUnit,
  serviceLaunch,
  settableOpenFiles,
  single,
  under,
} from './systemd-unit.ts';

const required = process.env.REQUIRE_SERVICES === '1' || Boolean(process.env.CI);
const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const guide = read('docs/vps.md');
const unit = parseUnit(read('deploy/parley.service'));
const isRoot = process.getuid?.() === 0;

if (!nginxPath) {
  const reason = 'nginx is not installed (apt-get install -y nginx)';
  if (required) throw new Error(`${reason}, but CI/REQUIRE_SERVICES=1 needs the VPS guide run behind it`);
  console.warn(`[skip] ${reason}: the VPS guide's proxy checks are skipped`);
}
if (!caddyPath) console.warn('[skip] caddy is not installed (apt-get install -y caddy): the guide’s Caddyfile is not run');
if (!isRoot) console.warn('[note] not root: the service runs as the current user, not the `parley` user the guide creates');

/** The guide's `useradd` line, run as it is when the user does not exist yet. */
async function ensureServiceUser(name: string): Promise<Account> {
  const existing = await lookupAccount(name);
  if (existing) return existing;
  const line = guide.split('\n').find((l) => l.startsWith('useradd '));
  if (!line) throw new Error('docs/vps.md has no useradd line');
  const result = Bun.spawnSync(['/bin/sh', '-c', line], { stderr: 'pipe' });
  // Another test process may have created it meanwhile.
  const account = await lookupAccount(name);
  if (!account) throw new Error(`useradd failed: ${result.stderr.toString()}`);
  return account;
}

/** `fetch` through the proxy over HTTPS, trusting its test certificate; the `json` shorthand of the test clients. */
function httpsClient(base: string, ca: string): Http {
  return (path, init = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`${base}${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body, tls: { ca } });
  };
}

type Proxy = { name: string; https: string; http: string; ca: string; stop(): Promise<void> };

/** Whether this machine has IPv6 loopback: then clients also come in over ::1, an address nginx and Caddy see but Parley's socket does not. */
const hasIpv6Loopback = (() => {
  try {
    return /^0{31}1 .* lo$/m.test(readFileSync('/proc/net/if_inet6', 'utf8'));
  } catch {
    return false;
  }
})();

describe.if(Boolean(nginxPath))('docs/vps.md: the unit behind the guide’s proxies', () => {
  const serviceUser = single(unit, 'Service', 'User') ?? 'parley';
  const unitEnv = () =>
    Object.fromEntries((unit.Service?.Environment ?? []).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const dataDir = unitEnv().DATA_DIR!;
  const echoDelayMs = 80;
  let root: string;
  let account: Account | undefined;
  let envFile: Record<string, string>;
  let nofile: number;
  let parleyPort: number;
  let server: RunningBinary;
  let launched: ReturnType<typeof serviceLaunch>;
  const proxies: Proxy[] = [];
  let nginx: RunningNginx;
  let caddy: RunningCaddy | undefined;

  const state = () => under(root, dataDir);
  const owned = (path: string, mode: number) => {
    chmodSync(path, mode);
    if (account) chownSync(path, account.uid, account.gid);
  };

  async function startService(): Promise<RunningBinary> {
    launched = serviceLaunch(unit, { root, environmentFile: envFile, account, nofile, overrides: { PORT: String(parleyPort) } });
    const [command, ...args] = launched.argv;
    return startBinary({ path: Bun.which(command!)!, args, cwd: '/', env: launched.env });
  }

  beforeAll(async () => {
    account = isRoot ? await ensureServiceUser(serviceUser) : undefined;
    root = mkdtempSync(join(tmpdir(), 'parley-vps-'));
    chmodSync(root, 0o755);
    const dir = (path: string, mode = 0o755) => {
      const full = under(root, path);
      mkdirSync(full, { recursive: true });
      chmodSync(full, mode);
      return full;
    };
    for (const path of ['/usr', '/usr/local', '/usr/local/bin', '/usr/local/lib', '/etc', '/var', '/var/lib', '/var/backups']) dir(path);

    // /usr/local/bin/parley, as `install -m 0755 parley /usr/local/bin/parley`.
    const binary = under(root, single(unit, 'Service', 'ExecStart')!.split(/\s+/)[0]!);
    copyFileSync(await buildBinary(), binary);
    chmodSync(binary, 0o755);
    dir('/usr/local/lib/parley');
    copyFileSync(join(repoRoot, 'deploy/parley-backup.sh'), under(root, '/usr/local/lib/parley/parley-backup.sh'));
    chmodSync(under(root, '/usr/local/lib/parley/parley-backup.sh'), 0o755);

    // /etc/parley/parley.env, root:parley 0640, with the guide's JWT_SECRET line. For the test
    // only: the echo provider pauses longer between words, so that buffering would show, and the
    // sign-up limit per address (5 in 15 minutes) is raised, every client here being 127.0.0.1.
    const envPath = under(root, single(unit, 'Service', 'EnvironmentFile')!);
    dir(dirname(single(unit, 'Service', 'EnvironmentFile')!), 0o750);
    const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64');
    writeFileSync(envPath, `JWT_SECRET=${secret}\nECHO_DELAY_MS=${echoDelayMs}\nAUTH_RATE_LIMIT_MAX=1000\n`);
    chmodSync(envPath, 0o640);
    if (account) {
      chownSync(dirname(envPath), 0, account.gid);
      chownSync(envPath, 0, account.gid);
    }
    envFile = parseEnvironmentFile(readFileSync(envPath, 'utf8'));

    // StateDirectory=parley, StateDirectoryMode=0700: what systemd creates before the first start.
    owned(dir(`/var/lib/${unit.Service!.StateDirectory![0]}`), Number.parseInt(single(unit, 'Service', 'StateDirectoryMode')!, 8));
    owned(dir('/var/backups/parley'), 0o700);

    nofile = await settableOpenFiles(Number(single(unit, 'Service', 'LimitNOFILE')));
    if (nofile < Number(single(unit, 'Service', 'LimitNOFILE')))
      console.warn(
        `[note] LimitNOFILE=${single(unit, 'Service', 'LimitNOFILE')} is above this machine's hard limit: started with ${nofile}`,
      );
    parleyPort = freePort();
    server = await startService();

    // TLS for the proxies: a self-signed certificate where Let's Encrypt's would be.
    const tls = dir('/etc/letsencrypt/live/chat.example.com', 0o700);
    const cert = selfSignedCertificate(tls);
    const acmeRoot = dir('/var/www/letsencrypt');
    dir('/var/www/letsencrypt/.well-known');
    dir('/var/www/letsencrypt/.well-known/acme-challenge');
    writeFileSync(join(acmeRoot, '.well-known/acme-challenge/probe-token'), 'probe-token.key-authorization\n');
    chmodSync(join(acmeRoot, '.well-known/acme-challenge/probe-token'), 0o644);

    const ports = { http: freePort(), https: freePort() };
    const site = rewriteSite(read('deploy/nginx.conf'), {
      upstreamPort: parleyPort,
      httpPort: ports.http,
      httpsPort: ports.https,
      certificate: cert.certificate,
      certificateKey: cert.key,
      acmeRoot,
    });
    nginx = await startNginx(dir('/nginx'), site, { user: isRoot ? 'www-data' : undefined, ports: [ports.http, ports.https] });
    const ca = readFileSync(cert.certificate, 'utf8');
    proxies.push({
      name: 'nginx',
      https: `https://127.0.0.1:${ports.https}`,
      http: `http://127.0.0.1:${ports.http}`,
      ca,
      stop: () => nginx.stop(),
    });

    if (caddyPath) {
      const caddyPorts = { http: freePort(), https: freePort() };
      const caddyDir = dir('/caddy', 0o700);
      caddy = await startCaddy(
        caddyDir,
        rewriteCaddyfile(read('deploy/Caddyfile'), { upstreamPort: parleyPort, httpPort: caddyPorts.http, httpsPort: caddyPorts.https }),
        [caddyPorts.http, caddyPorts.https],
      );
      proxies.push({
        name: 'caddy',
        https: `https://127.0.0.1:${caddyPorts.https}`,
        http: `http://127.0.0.1:${caddyPorts.http}`,
        ca: caddy.rootCertificate,
        stop: () => caddy!.stop(),
      });
    }
  }, 240_000);

  afterAll(async () => {
    for (const proxy of proxies) await proxy.stop().catch(() => undefined);
    await server?.stop();
    if (root && !process.env.KEEP_VPS_ROOT) rmSync(root, { recursive: true, force: true });
  });

  test('security: it runs as the unit says: its user, umask, limits, no new privileges, no capabilities', async () => {
    const pid = server.proc.pid;
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
    if (account) {
      expect(field('Uid')?.split(/\s+/)).toEqual(Array(4).fill(String(account.uid)));
      expect(field('Gid')?.split(/\s+/)).toEqual(Array(4).fill(String(account.gid)));
    }
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('CapBnd')).toBe('0000000000000000');
    expect(field('CapEff')).toBe('0000000000000000');
    expect(field('Umask')).toBe(single(unit, 'Service', 'UMask'));
    expect(await openFilesLimit(pid)).toEqual({ soft: nofile, hard: nofile });
    // The process is the executable itself (no shell left in between), so signals reach it.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe(under(root, '/usr/local/bin/parley'));
    // It wrote its database into DATA_DIR, private to it.
    const db = statSync(join(state(), 'parley.db'));
    if (account) expect(db.uid).toBe(account.uid);
    expect(db.mode & 0o077).toBe(0);
    expect(server.logs.find((line) => line.msg === 'listening')?.url).toBe(`http://127.0.0.1:${parleyPort}`);
  });

  test('happy: nginx’s port-80 server answers the ACME HTTP-01 challenge from the webroot (certbot --webroot)', async () => {
    const res = await fetch(`${proxies[0]!.http}/.well-known/acme-challenge/probe-token`, { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('probe-token.key-authorization\n');
  });

  describe.each(['nginx', 'caddy'])('through %s', (name) => {
    const proxy = () => proxies.find((p) => p.name === name);
    const https = () => httpsClient(proxy()!.https, proxy()!.ca);
    const enabled = name === 'nginx' || Boolean(caddyPath);

    test.if(enabled)(
      'happy: HTTPS reaches Parley, which believes the proxy’s X-Forwarded-Proto (HSTS); plain HTTP is redirected',
      async () => {
        const health = await https()('/health');
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ status: 'ok' });
        expect(health.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
        const plain = await fetch(`${proxy()!.http}/api/v1/health/detailed?x=1`, { redirect: 'manual' });
        expect([301, 308]).toContain(plain.status);
        expect(plain.headers.get('location')).toMatch(/^https:\/\/[^/]+\/api\/v1\/health\/detailed\?x=1$/);
      },
    );

    test.if(enabled)(
      'security: the client address is the proxy’s word: forged X-Forwarded-For and Fly-Client-IP change nothing',
      async () => {
        // Over ::1 the address the proxy reports differs from the socket Parley sees (127.0.0.1),
        // which shows TRUST_PROXY at work; over 127.0.0.1 only that nothing forged got through.
        const client = hasIpv6Loopback ? httpsClient(proxy()!.https.replace('127.0.0.1', '[::1]'), proxy()!.ca) : https();
        const forged = { 'x-forwarded-for': '203.0.113.9', 'fly-client-ip': '198.51.100.7', 'x-real-ip': '192.0.2.1' };
        const user = await register(client, { email: uniqueEmail('vps'), headers: forged });
        const sessions = await readJson(await client('/api/v1/auth/sessions', { headers: { ...bearer(user.accessToken), ...forged } }));
        expect(sessions.data.map((s: { ip: string | null }) => s.ip)).toEqual([hasIpv6Loopback ? '::1' : '127.0.0.1']);
      },
    );

    test.if(enabled)('happy: a streamed reply passes event by event, as the echo provider writes it, not buffered', async () => {
      const user = await register(https());
      const chat = await createChat(https(), user.accessToken);
      const words = Array.from({ length: 12 }, (_, i) => `w${i}`);
      const started = performance.now();
      const res = await https()(`/api/v1/chats/${chat.id}/messages`, {
        method: 'POST',
        headers: bearer(user.accessToken),
        json: { content: words.join(' ') },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toStartWith('text/event-stream');
      const arrivals: { event: string; at: number }[] = [];
      let text = '';
      let buffer = '';
      const decoder = new TextDecoder();
      for await (const chunk of res.body!) {
        const at = performance.now() - started;
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          for (const block of parseSseBlock(buffer.slice(0, end))) {
            if (block.kind !== 'event') continue;
            arrivals.push({ event: block.event.event, at });
            if (block.event.event === 'delta') text += block.event.data.text;
          }
          buffer = buffer.slice(end + 2);
        }
      }
      expect(text.trim()).toBe(words.join(' '));
      expect(arrivals.at(-1)?.event).toBe('done');
      // Each delta arrived about ECHO_DELAY_MS after the previous one: buffered, they would all
      // arrive together at the end.
      const deltas = arrivals.filter((a) => a.event === 'delta').map((a) => a.at);
      const spread = deltas.at(-1)! - deltas[0]!;
      expect(spread).toBeGreaterThan((words.length - 2) * echoDelayMs * 0.6);
      expect(new Set(deltas.map((at) => Math.round(at / (echoDelayMs / 2)))).size).toBeGreaterThan(words.length / 2);
    });

    test.if(enabled)(
      'happy: a websocket through it stays open, answers pings and streams a reply',
      async () => {
        const user = await register(https());
        const chat = await createChat(https(), user.accessToken);
        const url = `${proxy()!.https.replace('https:', 'wss:')}/api/v1/ws?token=${encodeURIComponent(user.accessToken)}`;
        const client = new WsClient(new WebSocket(url, { tls: { ca: proxy()!.ca } }));
        try {
          await client.opened;
          await client.waitFor((f) => f.type === 'ready', 'ready');
          // Held open and quiet for a while, then still answering.
          await Bun.sleep(3000);
          expect(client.isOpen).toBe(true);
          client.send({ type: 'ping' });
          await client.waitFor((f) => f.type === 'pong', 'pong');
          const from = client.frames.length;
          client.send({ type: 'chat.send', chatId: chat.id, content: 'over the websocket' });
          await client.waitFor((f) => f.type === 'done', 'done', 15_000, from);
          const text = client.frames
            .slice(from)
            .filter((f) => f.type === 'delta')
            .map((f) => f.text)
            .join('');
          expect(text.trim()).toBe('over the websocket');
          expect(client.isOpen).toBe(true);
        } finally {
          client.ws.close(1000);
          await client.closed;
        }
      },
      30_000,
    );
  });

  test('happy: parley-backup.sh, run as parley, copies the live database; restoring the copy as the guide says brings it back', async () => {
    if (!Bun.which('sqlite3')) {
      if (required) throw new Error('sqlite3 is not installed (apt-get install -y sqlite3)');
      console.warn('[skip] sqlite3 is not installed: the SQLite backup is not run');
      return;
    }
    const https = httpsClient(proxies[0]!.https, proxies[0]!.ca);
    const kept = await register(https, { email: uniqueEmail('backed-up') });
    // parley-backup.service, started as systemd would start it (its user, environment, umask).
    const backup = serviceLaunch(parseUnit(read('deploy/parley-backup.service')), { root, environmentFile: envFile, account, nofile });
    const [command, ...args] = backup.argv;
    const run = Bun.spawnSync([Bun.which(command!)!, ...args], { env: backup.env, stdout: 'pipe', stderr: 'pipe' });
    expect(run.stderr.toString()).toBe('');
    expect(run.exitCode).toBe(0);
    const copy = run.stdout.toString().trim();
    expect(copy).toMatch(new RegExp(`^${under(root, '/var/backups/parley')}/parley-\\d{8}T\\d{6}Z\\.db$`));
    const copyStat = statSync(copy);
    if (account) expect(copyStat.uid).toBe(account.uid);
    expect(copyStat.mode & 0o077).toBe(0);
    const db = new Database(copy, { readonly: true });
    try {
      expect(db.query('SELECT count(*) AS n FROM users WHERE email = ?').get(kept.email)).toEqual({ n: 1 });
    } finally {
      db.close();
    }

    // Someone signs up after the backup; restoring it (the guide's commands) forgets them.
    const lost = await register(https, { email: uniqueEmail('after-backup') });
    expect(await server.stop(single(unit, 'Service', 'KillSignal') as NodeJS.Signals)).toBe(0);
    const restore = guide
      .split('\n')
      .filter((line) => /^(install -m 0600 .*parley\.db$|rm -f \/var\/lib\/parley\/parley\.db-wal)/.test(line));
    expect(restore).toHaveLength(2);
    const restoreScript = restore
      .map((line) => line.replaceAll(/\/var\/backups\/parley\/parley-\S+\.db/g, copy).replaceAll('/var/lib/parley', state()))
      .map((line) => (account ? line : line.replace(/ -o parley -g parley/, '')))
      .join('\n');
    const restored = Bun.spawnSync(['/bin/sh', '-ec', restoreScript], { stderr: 'pipe' });
    expect(restored.stderr.toString()).toBe('');
    server = await startService();
    const login = (email: string, password: string) =>
      https('/api/v1/auth/login', { method: 'POST', json: { email, password } }).then((res) => res.status);
    expect(await login(kept.email, kept.password)).toBe(200);
    expect(await login(lost.email, lost.password)).toBe(401);
  }, 60_000);

  test('happy: KillSignal stops the service cleanly, well within TimeoutStopSec', async () => {
    const started = performance.now();
    expect(await server.stop(single(unit, 'Service', 'KillSignal') as NodeJS.Signals)).toBe(0);
    expect(performance.now() - started).toBeLessThan(Number(single(unit, 'Service', 'TimeoutStopSec')) * 1000);
  }, 30_000);
});
