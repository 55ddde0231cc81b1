// Docker and flyctl cannot run here, so this suite holds the deploy files to account another way:
// it reads Dockerfile, .dockerignore and fly.toml, checks they agree with each other, with the
// config parser and the CLI, then runs the built executable exactly as the image and Fly would
// (release command, CMD, health probe), and checks README documents the commands.
import { Database } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { copyBinaryToEmptyDir, repoRoot, startBinary } from '../helpers/binary.ts';
import { all, execForm, last, parseCopy, parseDockerfile, parseHealthcheck, type Stage, shellWords, stageEnv } from './dockerfile.ts';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const dockerfile = parseDockerfile(read('Dockerfile'));
const ignorePatterns = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

type FlyToml = {
  app: string;
  kill_signal?: string;
  kill_timeout?: number;
  build: { dockerfile: string };
  env: Record<string, string>;
  deploy: { release_command: string };
  http_service: {
    internal_port: number;
    force_https: boolean;
    auto_stop_machines: unknown;
    auto_start_machines: boolean;
    checks: { method?: string; path?: string }[];
  };
  mounts: { source: string; destination: string };
};
const fly = Bun.TOML.parse(read('fly.toml')) as FlyToml;

const [buildStage, runtimeStage] = dockerfile.stages as [Stage, Stage];
const runtimeEnv = stageEnv(runtimeStage);
const entrypoint = execForm(last(runtimeStage, 'ENTRYPOINT')?.args ?? '') ?? [];
const cmd = execForm(last(runtimeStage, 'CMD')?.args ?? '') ?? [];
const exposedPorts = all(runtimeStage, 'EXPOSE').flatMap((instruction) =>
  instruction.args.split(/\s+/).map((port) => Number.parseInt(port, 10)),
);
const volumes = all(runtimeStage, 'VOLUME').flatMap((instruction) => execForm(instruction.args) ?? instruction.args.split(/\s+/));
const releaseWords = shellWords(fly.deploy.release_command);
const strongSecret = 'deploy-test-secret-'.padEnd(48, 'x');

/** .dockerignore semantics for the paths we care about: a pattern excludes a path or a parent of it. */
function ignored(path: string): boolean {
  const parts = path
    .replace(/^\.?\//, '')
    .replace(/\/$/, '')
    .split('/');
  let excluded = false;
  for (const raw of ignorePatterns) {
    const negated = raw.startsWith('!');
    const pattern = raw.replace(/^!/, '').replace(/^\//, '').replace(/\/$/, '');
    const glob = new Bun.Glob(pattern);
    for (let depth = 1; depth <= parts.length; depth++) {
      if (glob.match(parts.slice(0, depth).join('/'))) excluded = !negated;
    }
  }
  return excluded;
}

describe('Dockerfile', () => {
  test('happy: builds in a Debian Node stage and runs in a slim glibc stage', () => {
    expect(dockerfile.stages).toHaveLength(2);
    expect(buildStage.base).toMatch(/^node:\d+-bookworm(-slim)?$/);
    expect(runtimeStage.base).toMatch(/^(debian:bookworm-slim|gcr\.io\/distroless\/cc-debian12(:\w+)?)$/);
  });

  test('happy: installs the Bun of package.json from npm, then installs frozen and runs `bun run build`', () => {
    expect(dockerfile.globalArgs.BUN_VERSION).toBe(pkg.devDependencies.bun);
    expect(all(buildStage, 'ARG').map((instruction) => instruction.args)).toContain('BUN_VERSION');
    const runs = all(buildStage, 'RUN').map((instruction) => instruction.args);
    expect(runs.some((run) => /npm install (--\S+ )*(--global|-g) .*bun@\$\{BUN_VERSION\}/.test(run))).toBe(true);
    expect(runs.some((run) => run.includes('bun install --frozen-lockfile'))).toBe(true);
    expect(runs.some((run) => run.includes('bun run build'))).toBe(true);
  });

  test('happy: copies into the build everything the build reads, none of it excluded by .dockerignore', () => {
    const sources = all(buildStage, 'COPY').flatMap((instruction) => parseCopy(instruction.args).sources);
    // The bundle reads package.json (version), drizzle/ (migrations macro) and src/; scripts/ runs the build.
    for (const needed of ['package.json', 'bun.lock', 'bunfig.toml', 'tsconfig.json', 'drizzle', 'src', 'scripts'])
      expect(sources).toContain(needed);
    for (const source of sources) {
      expect(existsSync(join(repoRoot, source))).toBe(true);
      expect(ignored(source)).toBe(false);
    }
    expect(ignored('Dockerfile')).toBe(false);
    for (const secretOrBulk of ['.env', '.git', 'node_modules', 'src/node_modules', 'dist', 'data', 'tests', 'bench'])
      expect(ignored(secretOrBulk)).toBe(true);
  });

  test('happy: the runtime stage holds only the executable that `bun run build` writes, at the ENTRYPOINT path', () => {
    expect(pkg.scripts.build).toBe('bun scripts/build.ts');
    const outfile = 'dist/parley';
    expect(read('scripts/build.ts')).toContain(`'${outfile}'`);
    const workdir = last(buildStage, 'WORKDIR')?.args;
    const copies = all(runtimeStage, 'COPY').map((instruction) => parseCopy(instruction.args));
    expect(copies).toEqual([{ flags: { from: buildStage.name! }, sources: [`${workdir}/${outfile}`], destination: '/app/parley' }]);
    expect(all(runtimeStage, 'ADD')).toHaveLength(0);
    expect(entrypoint).toEqual(['/app/parley']);
    expect(cmd).toEqual(['serve']);
  });

  test('security: runs as uid 10001, which owns the /data volume that DATA_DIR points at', () => {
    expect(last(runtimeStage, 'USER')?.args).toBe('10001:10001');
    expect(volumes).toEqual(['/data']);
    expect(runtimeEnv.DATA_DIR).toBe('/data');
    const runs = all(runtimeStage, 'RUN').map((instruction) => instruction.args);
    expect(runs.some((run) => /useradd .*--uid 10001\b/.test(run) && /chown 10001:10001 \/data\b/.test(run))).toBe(true);
    // The VOLUME comes after the chown (later changes to a volume path are discarded by Docker).
    const index = (keyword: string) =>
      runtimeStage.instructions.findIndex(
        (instruction) => instruction.keyword === keyword && (keyword !== 'RUN' || instruction.args.includes('chown')),
      );
    expect(index('VOLUME')).toBeGreaterThan(index('RUN'));
  });

  test('happy: its ENV is accepted by the real config parser: port 3000 exposed, production, JWT_SECRET required', () => {
    expect(runtimeEnv).toMatchObject({ NODE_ENV: 'production', PORT: '3000', HOST: '0.0.0.0', DATA_DIR: '/data' });
    const config = parseConfig({ ...runtimeEnv, JWT_SECRET: strongSecret });
    expect(config).toMatchObject({ nodeEnv: 'production', port: 3000, host: '0.0.0.0', dataDir: '/data', jwtSecretGenerated: false });
    expect(exposedPorts).toEqual([config.port]);
    expect(() => parseConfig(runtimeEnv)).toThrow(ConfigError);
    expect(() => parseConfig(runtimeEnv)).toThrow(/JWT_SECRET/);
  });

  test('happy: HEALTHCHECK probes /health on the served port with curl, which the runtime stage installs', () => {
    const check = parseHealthcheck(last(runtimeStage, 'HEALTHCHECK')?.args ?? '');
    expect(check).toBeDefined();
    const command = Array.isArray(check!.command) ? check!.command.join(' ') : check!.command;
    expect(command).toMatch(/^curl /);
    expect(command).toMatch(/http:\/\/127\.0\.0\.1:(\$\{PORT(:-3000)?\}|3000)\/health\b/);
    expect(all(runtimeStage, 'RUN').some((run) => /apt-get install .*\bcurl\b/.test(run.args))).toBe(true);
  });
});

describe('fly.toml', () => {
  test('happy: builds this Dockerfile and sets the same env as the image, plus TRUST_PROXY for Fly’s proxy', () => {
    expect(fly.build.dockerfile).toBe('Dockerfile');
    expect(Object.keys(fly.env).sort()).toEqual(['DATA_DIR', 'NODE_ENV', 'PORT', 'TRUST_PROXY']);
    // The image itself trusts no proxy: `docker run` may face clients directly.
    expect(runtimeEnv.TRUST_PROXY).toBeUndefined();
    expect(parseConfig({ ...fly.env, JWT_SECRET: strongSecret }).trustProxy).toBe(true);
    for (const [key, value] of Object.entries(fly.env)) if (key !== 'TRUST_PROXY') expect(runtimeEnv[key]).toBe(value);
  });

  test('security: keeps secrets out of [env] (they belong in `fly secrets set`)', () => {
    for (const key of Object.keys(fly.env)) expect(key).not.toMatch(/SECRET|KEY|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL|SMTP_URL/);
  });

  test('happy: routes to the port the image listens on and checks GET /health', () => {
    expect(fly.http_service.internal_port).toBe(Number(runtimeEnv.PORT));
    expect(exposedPorts).toContain(fly.http_service.internal_port);
    expect(fly.http_service.force_https).toBe(true);
    expect(fly.http_service.auto_start_machines).toBe(true);
    expect(fly.http_service.checks).toContainEqual(expect.objectContaining({ method: 'GET', path: '/health' }));
  });

  test('happy: mounts its volume at the image VOLUME, which is DATA_DIR', () => {
    expect(fly.mounts).toEqual({ source: 'parley_data', destination: '/data' });
    expect(volumes).toContain(fly.mounts.destination);
    expect(fly.env.DATA_DIR).toBe(fly.mounts.destination);
  });

  test('happy: release_command replaces CMD under the same ENTRYPOINT, so Fly runs `/app/parley migrate`', () => {
    expect([...entrypoint, ...releaseWords]).toEqual(['/app/parley', 'migrate']);
    // Naming the binary again would run `/app/parley /app/parley migrate`.
    expect(releaseWords[0]).not.toBe(entrypoint[0]);
  });

  test('happy: stops with a signal the server drains on, and waits longer than its grace period', () => {
    expect(['SIGTERM', 'SIGINT']).toContain(fly.kill_signal ?? 'SIGINT');
    const { shutdownGraceMs } = parseConfig({ ...fly.env, JWT_SECRET: strongSecret });
    expect((fly.kill_timeout ?? 5) * 1000).toBeGreaterThan(shutdownGraceMs);
  });
});

describe('the CLI and the executable, run as the image and Fly run them', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let dataDir: string;
  // The image's environment, with the data directory moved somewhere writable here.
  const imageEnv = () => ({ ...runtimeEnv, ...fly.env, DATA_DIR: dataDir, JWT_SECRET: strongSecret });
  const run = async (argv: string[], env: Record<string, string>) => {
    const proc = Bun.spawn(argv, { cwd: binary.dir, env: { PATH: process.env.PATH ?? '', ...env }, stdout: 'pipe', stderr: 'pipe' });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    dataDir = mkdtempSync(join(tmpdir(), 'parley-deploy-data-'));
  }, 180_000);
  afterAll(() => {
    binary?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('happy: `--help` lists serve and migrate, the subcommands the image CMD and the release command use', async () => {
    const help = await run([process.execPath, join(repoRoot, 'src/cli.ts'), '--help'], {});
    expect(help.code).toBe(0);
    const subcommands = [...help.stdout.matchAll(/^\s+parley \[?([a-z]+)\]?\s/gm)].map((match) => match[1]);
    expect(subcommands).toEqual(expect.arrayContaining(['serve', 'migrate']));
    expect(subcommands).toContain(cmd[0]);
    expect(subcommands).toContain(releaseWords[0]);
  }, 30_000); // starting Bun on the source takes seconds on a busy machine

  test('happy: the release command, alone in an empty directory, migrates a fresh SQLite file and exits 0', async () => {
    const argv = [binary.path, ...entrypoint.slice(1), ...releaseWords];
    const result = await run(argv, imageEnv());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(existsSync(join(dataDir, 'parley.db'))).toBe(true);
    const db = new Database(join(dataDir, 'parley.db'), { readonly: true });
    try {
      const tables = db
        .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .all()
        .map((row) => row.name);
      expect(tables).toEqual(expect.arrayContaining(['__drizzle_migrations', 'users']));
    } finally {
      db.close();
    }
    // A second run finds nothing to do and still succeeds (every deploy runs it).
    expect((await run(argv, imageEnv())).code).toBe(0);
  });

  test('error: without JWT_SECRET the release command fails the deploy with a clear message', async () => {
    const { JWT_SECRET: _omitted, ...env } = imageEnv();
    const result = await run([binary.path, ...releaseWords], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('JWT_SECRET');
  });

  test('happy: CMD serves /health, the HEALTHCHECK command passes, and the Fly kill signal stops it cleanly', async () => {
    const server = await startBinary({
      path: binary.path,
      cwd: binary.dir,
      args: cmd,
      env: { ...imageEnv(), PORT: '0', HOST: '127.0.0.1' },
    });
    try {
      const response = await fetch(`${server.url}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
      const check = parseHealthcheck(last(runtimeStage, 'HEALTHCHECK')!.args)!;
      if (typeof check.command === 'string' && Bun.which('curl')) {
        // Docker runs the shell form with the container's env; PORT is the port actually bound here.
        const probe = await run(['/bin/sh', '-c', check.command], { PORT: new URL(server.url).port });
        expect(probe.stderr).toBe('');
        expect(probe.code).toBe(0);
      }
    } finally {
      expect(await server.stop((fly.kill_signal ?? 'SIGINT') as NodeJS.Signals)).toBe(0);
    }
  });
});

describe('README', () => {
  test('happy: documents the Docker and Fly commands, the /data volume and `parley migrate`', () => {
    const path = join(repoRoot, 'README.md');
    expect(existsSync(path)).toBe(true);
    const readme = readFileSync(path, 'utf8');
    for (const phrase of ['docker build', 'fly deploy', '/data', 'parley migrate']) expect(readme).toContain(phrase);
  });
});
