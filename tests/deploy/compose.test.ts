// compose.yaml (PostgreSQL, Redis, two Parley instances, nginx in front) cannot be started here:
// there is no Docker daemon and no image registry. So this suite reads it and holds it to the
// config schema, the Dockerfile, the CLI and README; then runs its nginx configuration, from
// Debian's nginx, in front of two real instances on one PostgreSQL and Redis, and streams,
// resumes and holds a websocket through it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { parse } from 'yaml';
import { maxRequestBytes } from '../../src/app.ts';
import { EnvSchema, parseConfig } from '../../src/config/index.ts';
import { createSecondInstance, createTestApp, type TestApp } from '../helpers/app.ts';
import { repoRoot } from '../helpers/binary.ts';
import { bearer, createChat, httpOfUrl, register, testEnv } from '../helpers/client.ts';
import { hasPostgres, hasRedis, servicesRequired } from '../helpers/services.ts';
import { SseReader } from '../helpers/sse.ts';
import { freePort } from '../helpers/tcp-proxy.ts';
import { WsClient } from '../helpers/ws.ts';
import { all, execForm, last, parseDockerfile, type Stage, stageEnv } from './dockerfile.ts';

type Service = {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  configs?: { source: string; target: string }[];
  stop_grace_period?: string;
};
type Compose = { services: Record<string, Service>; configs: Record<string, { content: string }>; volumes: Record<string, unknown> };

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const compose = parse(read('compose.yaml'), { merge: true }) as Compose;
const readme = read('README.md');
const runtime = parseDockerfile(read('Dockerfile')).stages.at(-1) as Stage;
const imageEnv = stageEnv(runtime);
const parleys = Object.keys(compose.services).filter((name) => compose.services[name]!.build);
const nginxConf = compose.configs.nginx!.content.replaceAll('$$', '$');
const secret = 'compose-test-secret-'.padEnd(48, 'x');

/** The environment of a Parley service as the container sees it: the image's ENV, then the service's, JWT_SECRET given. */
const containerEnv = (service: Service) => {
  const env: Record<string, string> = { ...imageEnv, ...service.environment };
  env.JWT_SECRET = secret;
  return env;
};
const seconds = (value: string) => Number(/^(\d+)s?$/.exec(value)?.[1]);

describe('compose.yaml', () => {
  test('happy: PostgreSQL, Redis, two Parley instances built from the Dockerfile, and nginx', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['parley-1', 'parley-2', 'postgres', 'proxy', 'redis']);
    expect(parleys).toEqual(['parley-1', 'parley-2']);
    for (const name of parleys) expect(compose.services[name]!.build?.context).toBe('.');
    expect(existsSync(join(repoRoot, 'Dockerfile'))).toBe(true);
    expect(compose.services.proxy!.image).toMatch(/^nginx:/);
  });

  test('happy: each instance runs a command the CLI has, with variables the config schema knows, and starts with them', async () => {
    const proc = Bun.spawn([process.execPath, join(repoRoot, 'src/cli.ts'), '--help'], { stdout: 'pipe' });
    const subcommands = [...(await new Response(proc.stdout).text()).matchAll(/^\s+parley \[?([a-z]+)\]?\s/gm)].map((m) => m[1]);
    const known = Object.keys(EnvSchema.properties);
    for (const name of parleys) {
      const service = compose.services[name]!;
      expect(subcommands).toContain(service.command?.[0] ?? execForm(last(runtime, 'CMD')!.args)![0]);
      expect(Object.keys(service.environment ?? {}).filter((key) => !known.includes(key))).toEqual([]);
      // A required secret, never one written here.
      expect(service.environment?.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
      const config = parseConfig(containerEnv(service));
      expect(config).toMatchObject({ nodeEnv: 'production', port: 3000, dataDir: '/data', trustProxy: true });
      expect((service.stop_grace_period && seconds(service.stop_grace_period)) ?? 10).toBeGreaterThan(config.shutdownGraceMs / 1000);
    }
  }, 30_000); // starting Bun on the source for --help takes seconds on a busy machine

  test('happy: the instances share the database, Redis and the /data volume, at the services’ own addresses and credentials', () => {
    const postgres = compose.services.postgres!.environment!;
    const configs = parleys.map((name) => parseConfig(containerEnv(compose.services[name]!)));
    for (const config of configs) {
      const database = new URL(config.databaseUrl!);
      expect([database.hostname, database.port, database.username, database.password, database.pathname]).toEqual([
        'postgres',
        '5432',
        postgres.POSTGRES_USER!,
        postgres.POSTGRES_PASSWORD!,
        `/${postgres.POSTGRES_DB}`,
      ]);
      const redis = new URL(config.redisUrl!);
      expect([redis.hostname, redis.port]).toEqual(['redis', '6379']);
      expect(config.jwtSecret).toBe(configs[0]!.jwtSecret);
    }
    const volumes = all(runtime, 'VOLUME').flatMap((instruction) => execForm(instruction.args) ?? [instruction.args]);
    for (const name of parleys) {
      const mount = compose.services[name]!.volumes!.map((volume) => volume.split(':'));
      expect(mount).toEqual([['parley-data', imageEnv.DATA_DIR!]]);
      expect(volumes).toContain(imageEnv.DATA_DIR!);
    }
    expect(Object.keys(compose.volumes)).toContain('parley-data');
  });

  test('happy: the instances wait for healthy PostgreSQL and Redis', () => {
    for (const dependency of ['postgres', 'redis']) expect(compose.services[dependency]!.healthcheck?.test.length).toBeGreaterThan(0);
    for (const name of parleys)
      expect(compose.services[name]!.depends_on).toEqual({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
  });

  test('happy: nginx listens on the published port and balances over every instance at the port the image serves', () => {
    const [hostPort, containerPort] = compose.services.proxy!.ports![0]!.split(':');
    expect(nginxConf).toContain(`listen ${containerPort};`);
    expect(compose.services.proxy!.configs).toEqual([{ source: 'nginx', target: '/etc/nginx/conf.d/default.conf' }]);
    const upstreams = [...nginxConf.matchAll(/^\s*server ([\w-]+):(\d+);/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(upstreams).toEqual(parleys.map((name) => `${name}:${imageEnv.PORT}`));
    expect(all(runtime, 'EXPOSE').map((instruction) => instruction.args)).toEqual([imageEnv.PORT!]);
    expect(readme.includes(`localhost:${hostPort}`)).toBe(true);
  });

  test('happy: nginx passes SSE and websockets through, forwards the client address, and takes the largest upload', () => {
    for (const directive of [
      'proxy_http_version 1.1;',
      'proxy_buffering off;',
      'proxy_request_buffering off;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $connection_upgrade;',
      'proxy_set_header X-Forwarded-For $remote_addr;',
      'proxy_set_header X-Forwarded-Proto $scheme;',
    ])
      expect(nginxConf).toContain(directive);
    const defaults = parseConfig({});
    const readTimeout = seconds(/proxy_read_timeout (\S+);/.exec(nginxConf)![1]!);
    expect(readTimeout).toBeGreaterThan(defaults.ssePingMs / 1000);
    expect(readTimeout).toBeGreaterThan(60); // websocket pings (Elysia's idleTimeout)
    const bodyMib = Number(/client_max_body_size (\d+)m;/.exec(nginxConf)![1]);
    expect(bodyMib * 1024 * 1024).toBeGreaterThanOrEqual(maxRequestBytes(defaults));
  });

  test('happy: README shows how to start it', () => {
    expect(readme.includes('JWT_SECRET="$(openssl rand -base64 48)" docker compose up --build')).toBe(true);
    expect(read('compose.yaml')).toContain('JWT_SECRET="$(openssl rand -base64 48)" docker compose up --build');
  });
});

const nginxPath = Bun.which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
if (!nginxPath) {
  if (servicesRequired) throw new Error('REQUIRE_SERVICES=1 but nginx is not installed (apt-get install nginx)');
  console.warn('[skip] nginx is not installed: the compose proxy run is skipped');
}

describe.if(hasPostgres && hasRedis && nginxPath !== undefined)('compose.yaml’s nginx in front of two instances', () => {
  let first: TestApp;
  let second: TestApp;
  let nginx: Subprocess;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    const env = { ...testEnv, TRUST_PROXY: 'true', ECHO_DELAY_MS: '60' };
    first = await createTestApp({ database: 'postgres', kv: 'redis' }, env);
    second = await createSecondInstance(first, env);
    const ports = [first, second].map((app) => app.app.listen({ port: 0, hostname: '127.0.0.1' }).server!.port);
    dir = mkdtempSync(join(tmpdir(), 'parley-compose-nginx-'));
    chmodSync(dir, 0o777);
    for (const temp of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, temp), { mode: 0o777 });
    const port = freePort();
    // The compose file's server block as it is, with the service names and ports of this machine.
    let server = nginxConf.replace(/listen \d+;/, `listen 127.0.0.1:${port};`);
    for (const [index, name] of parleys.entries())
      server = server.replace(`server ${name}:${imageEnv.PORT};`, `server 127.0.0.1:${ports[index]};`);
    const conf = `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${server}
}
`;
    await Bun.write(join(dir, 'nginx.conf'), conf);
    nginx = Bun.spawn([nginxPath!, '-p', dir, '-e', `${dir}/error.log`, '-c', join(dir, 'nginx.conf')], {
      stdout: 'ignore',
      stderr: 'pipe',
    });
    base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${await new Response(nginx.stderr as ReadableStream).text()}`);
      if (
        await fetch(`${base}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await Bun.sleep(100);
    }
  }, 60_000);
  afterAll(async () => {
    nginx?.kill();
    await nginx?.exited;
    for (const app of [second, first]) {
      await app?.app.stop(true);
      await app?.close();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('happy: a reply streams through it event by event; after a dropped connection it resumes to the end through it', async () => {
    const http = httpOfUrl(base);
    const account = await register(http);
    const chat = await createChat(http, account.accessToken, { provider: 'echo' });
    const words = 'through the proxy one word at a time until the end';
    const started = Date.now();
    const reader = new SseReader(
      await http(`/api/v1/chats/${chat.id}/messages`, { method: 'POST', headers: bearer(account.accessToken), json: { content: words } }),
    );
    const start = await reader.until((event) => event.event === 'start');
    await reader.untilDeltas(1);
    // Unbuffered: the first word arrives long before the ten others (60 ms apart) are generated.
    expect(Date.now() - started).toBeLessThan(10 * 60);
    const lastId = reader.ids.at(-1)!;
    const before = reader.text;
    await reader.cancel();

    const rest = new SseReader(
      await http(`/api/v1/streams/${start!.data.streamId}`, { headers: { ...bearer(account.accessToken), 'last-event-id': lastId } }),
    );
    const events = await rest.rest();
    expect(events.at(-1)?.event).toBe('done');
    expect(`${before}${rest.text}`).toBe(words);
  }, 30_000);

  test('happy: a websocket opens through it and a reply sent on it streams back', async () => {
    const account = await register(httpOfUrl(base));
    const chat = await createChat(httpOfUrl(base), account.accessToken, { provider: 'echo' });
    const socket = await WsClient.ready(`${base.replace('http', 'ws')}/api/v1/ws`, account.accessToken);
    try {
      socket.send({ type: 'chat.send', chatId: chat.id, content: 'over the proxy' });
      await socket.waitFor((frame) => frame.type === 'done', 'done');
      const text = socket.frames
        .filter((frame) => frame.type === 'delta')
        .map((frame) => frame.text)
        .join('');
      expect(text).toBe('over the proxy');
    } finally {
      socket.ws.close();
    }
  }, 30_000);

  test('security: behind it, the address an instance sees is the one nginx saw, not one the client wrote (X-Forwarded-For or Fly-Client-IP)', async () => {
    const account = await register(httpOfUrl(base), {
      headers: { 'x-forwarded-for': '203.0.113.9', 'fly-client-ip': '198.51.100.7', 'user-agent': 'compose-test' },
    });
    const sessions = await fetch(`${base}/api/v1/auth/sessions`, { headers: bearer(account.accessToken) });
    expect(sessions.status).toBe(200);
    const { data } = (await sessions.json()) as { data: { ip: string | null; userAgent: string | null }[] };
    expect(data.map((session) => [session.ip, session.userAgent])).toEqual([['127.0.0.1', 'compose-test']]);
  });
});
