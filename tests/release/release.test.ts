// `bun run release`: every release executable is built with the flags and stamp of `bun run build`;
// SHA256SUMS matches them; the linux x64 one runs here (alone in an empty directory), the others are
// checked by their headers (ELF or Mach-O, CPU, C library, Bun's payload, macOS code signature) and
// carry the same commit; a target whose runtime cannot be fetched fails the run by name.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from '../../package.json' with { type: 'json' };
import { compileCommand, compileFlags } from '../../scripts/compile.ts';
import { executableName, releaseTargets, sha256File } from '../../scripts/release.ts';
import { repoRoot, startBinary } from '../helpers/binary.ts';
import { readExecutableFormat } from './executable-format.ts';

const stampLine = /^parley (\S+) \(commit (\S+), built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)$/;

async function run(argv: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const proc = Bun.spawn(argv, { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, stdout: 'pipe', stderr: 'pipe' });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

describe('bun run release', () => {
  let outdir: string;
  let result: Awaited<ReturnType<typeof run>>;
  const stamp = { commit: `release-test-${crypto.randomUUID().slice(0, 8)}`, epoch: '1798761600' }; // 2027-01-01T00:00:00Z

  beforeAll(async () => {
    outdir = mkdtempSync(join(tmpdir(), 'parley-release-'));
    result = await run([process.execPath, 'run', 'release', '--outdir', outdir], {
      env: { ...process.env, PARLEY_COMMIT: stamp.commit, SOURCE_DATE_EPOCH: stamp.epoch },
    });
    if (result.code !== 0) console.error(result.stdout, result.stderr);
  }, 900_000);
  afterAll(() => {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  test('happy: builds the six executables, prints each size, and writes SHA256SUMS that matches them', async () => {
    expect(result.code).toBe(0);
    const names = releaseTargets.map(executableName);
    expect(names).toEqual([
      'parley-linux-x64',
      'parley-linux-arm64',
      'parley-linux-x64-musl',
      'parley-linux-arm64-musl',
      'parley-darwin-x64',
      'parley-darwin-arm64',
    ]);
    // Nothing else is left beside them (no source maps: the executables embed theirs).
    expect(readdirSync(outdir).sort()).toEqual([...names, 'SHA256SUMS'].sort());
    for (const name of names) {
      const size = Bun.file(join(outdir, name)).size;
      expect(size).toBeGreaterThan(50 * 1024 * 1024);
      expect(result.stdout).toMatch(new RegExp(`^${name} +\\d+\\.\\d MiB +\\(${size} bytes, `, 'm'));
    }
    const sums = (await Bun.file(join(outdir, 'SHA256SUMS')).text()).trimEnd().split('\n');
    expect(sums.map((line) => line.split('  ')[1])).toEqual(names);
    for (const line of sums) {
      const [hash, name] = line.split('  ') as [string, string];
      expect(hash).toBe(await sha256File(join(outdir, name)));
    }
    if (Bun.which('sha256sum')) expect((await run(['sha256sum', '--check', '--strict', 'SHA256SUMS'], { cwd: outdir })).code).toBe(0);
  }, 180_000);

  test('happy: each is the format, CPU and C library of its target, with the app and the same stamp inside', async () => {
    for (const target of releaseTargets) {
      const path = join(outdir, executableName(target));
      const format = await readExecutableFormat(path);
      if (target.os === 'linux') {
        expect(format).toMatchObject({ kind: 'elf', arch: target.arch, libc: target.libc });
        if (format.kind === 'elf') expect(format.sections).toContain('.bun');
      } else {
        expect(format).toMatchObject({ kind: 'mach-o', arch: target.arch, executable: true, codeSignature: true });
        if (format.kind === 'mach-o') expect(format.segments).toContain('__BUN');
      }
      const bytes = Buffer.from(await Bun.file(path).arrayBuffer());
      expect(bytes.includes(stamp.commit)).toBe(true);
      expect(bytes.includes('2027-01-01T00:00:00Z')).toBe(true);
    }
  }, 120_000);

  test('happy: the linux x64 one, alone in an empty directory, prints its stamp and serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-release-run-'));
    try {
      const path = join(dir, 'parley');
      copyFileSync(join(outdir, 'parley-linux-x64'), path);
      const version = await run([path, '--version'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
      expect(version.code).toBe(0);
      expect(version.stdout.trim()).toBe(`parley ${pkg.version} (commit ${stamp.commit}, built 2027-01-01T00:00:00Z)`);
      const server = await startBinary({ path, cwd: dir });
      try {
        expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' });
        const detailed = (await (await fetch(`${server.url}/api/v1/health/detailed`)).json()) as { version: string };
        expect(detailed.version).toBe(pkg.version);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the build flags and stamp', () => {
  test('happy: release and build compile with the same flags: minified whitespace and syntax, never identifiers', () => {
    expect(compileFlags).toEqual(expect.arrayContaining(['--compile', '--minify-whitespace', '--minify-syntax', '--bytecode']));
    expect(compileFlags).not.toContain('--minify');
    expect(compileFlags.some((flag) => flag.startsWith('--minify-identifiers'))).toBe(false);
    const argv = compileCommand({ outfile: 'x', stamp: { commit: 'abc', builtAt: '2027-01-01T00:00:00Z' }, target: 'bun-darwin-arm64' });
    expect(argv).toEqual(expect.arrayContaining([...compileFlags, '--target=bun-darwin-arm64', '--define', 'PARLEY_COMMIT="abc"']));
    expect(pkg.scripts.release).toBe('bun scripts/release.ts');
  });

  test('happy: run from source, --version says so', async () => {
    const result = await run([process.execPath, 'src/cli.ts', '--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(`parley ${pkg.version} (run from source)`);
    expect(stampLine.test(result.stdout.trim())).toBe(false);
  }, 30_000);
});

describe('bun run release, failing', () => {
  test('error: a target whose runtime cannot be fetched fails by name, with the npm package, and writes no SHA256SUMS', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'parley-release-fail-'));
    const cache = mkdtempSync(join(tmpdir(), 'parley-release-cache-'));
    try {
      await Bun.write(join(outdir, 'SHA256SUMS'), 'stale\n');
      // An empty install cache and a proxy that refuses connections: Bun cannot download the runtime.
      const refused = 'http://127.0.0.1:9';
      const result = await run([process.execPath, 'scripts/release.ts', '--outdir', outdir, 'darwin-x64'], {
        env: {
          ...process.env,
          BUN_INSTALL_CACHE_DIR: cache,
          HTTPS_PROXY: refused,
          https_proxy: refused,
          HTTP_PROXY: refused,
          http_proxy: refused,
          NO_PROXY: '',
          no_proxy: '',
        },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('FAILED parley-darwin-x64: Bun could not fetch the darwin-x64 runtime');
      expect(result.stderr).toContain(`@oven/bun-darwin-x64@${pkg.devDependencies.bun}`);
      expect(existsSync(join(outdir, 'SHA256SUMS'))).toBe(false);
      expect(existsSync(join(outdir, 'parley-darwin-x64'))).toBe(false);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);

  test('error: an unknown target is refused with the list of targets', async () => {
    const result = await run([process.execPath, 'scripts/release.ts', '--outdir', tmpdir(), 'windows-x64']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown target windows-x64');
    expect(result.stderr).toContain('linux-arm64-musl');
  });
});
