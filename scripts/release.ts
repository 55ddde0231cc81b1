// `bun run release [--outdir DIR] [TARGET...]`: cross-compiles dist/parley-<os>-<arch> for every
// release target (or those named), with the flags and stamp of `bun run build`, then writes
// SHA256SUMS (as `sha256sum -c` reads it) and prints each executable's size.
//
// Bun fetches the runtime of another platform from the npm registry (the @oven/bun-* package of
// its own version) into its install cache. When that fails, the target is named with the package
// it needed, the others are still built, no SHA256SUMS is written and the exit code is 1.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pkg from '../package.json' with { type: 'json' };
import { buildStamp, compile } from './compile.ts';

export type ReleaseTarget = {
  /** `<os>-<arch>[-musl]`: the executable is `parley-<name>`. */
  name: string;
  /** Bun's `--target`. */
  bun: string;
  /** The npm package Bun downloads the runtime from. */
  npmPackage: string;
  os: 'linux' | 'darwin';
  arch: 'x64' | 'arm64';
  /** Linux only: the C library the executable is linked against. */
  libc?: 'glibc' | 'musl';
};

/** Linux x64 and arm64 (glibc and musl: Alpine), macOS x64 and arm64. */
export const releaseTargets: ReleaseTarget[] = [
  { name: 'linux-x64', bun: 'bun-linux-x64', npmPackage: '@oven/bun-linux-x64', os: 'linux', arch: 'x64', libc: 'glibc' },
  { name: 'linux-arm64', bun: 'bun-linux-arm64', npmPackage: '@oven/bun-linux-aarch64', os: 'linux', arch: 'arm64', libc: 'glibc' },
  { name: 'linux-x64-musl', bun: 'bun-linux-x64-musl', npmPackage: '@oven/bun-linux-x64-musl', os: 'linux', arch: 'x64', libc: 'musl' },
  {
    name: 'linux-arm64-musl',
    bun: 'bun-linux-arm64-musl',
    npmPackage: '@oven/bun-linux-aarch64-musl',
    os: 'linux',
    arch: 'arm64',
    libc: 'musl',
  },
  { name: 'darwin-x64', bun: 'bun-darwin-x64', npmPackage: '@oven/bun-darwin-x64', os: 'darwin', arch: 'x64' },
  { name: 'darwin-arm64', bun: 'bun-darwin-arm64', npmPackage: '@oven/bun-darwin-aarch64', os: 'darwin', arch: 'arm64' },
];

/** The file name of a target's executable. */
export const executableName = (target: ReleaseTarget) => `parley-${target.name}`;

/** SHA-256 of a file, hex, read in chunks (the executables are over 100 MB). */
export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher('sha256');
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest('hex');
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Why a compile failed, in one line a person can act on. */
function failureReason(target: ReleaseTarget, output: string): string {
  const lines = output.split('\n').map((line) => line.trim());
  const download = lines.find((line) => /failed to (download|extract)|could not (download|fetch)/i.test(line));
  if (download)
    return `Bun could not fetch the ${target.name} runtime (npm package ${target.npmPackage}@${pkg.devDependencies.bun}, from the npm registry into Bun's install cache): ${download}`;
  return (
    lines
      .filter((line) => line !== '')
      .slice(-3)
      .join(' | ') || 'bun build failed with no output'
  );
}

async function main(argv: string[]) {
  const root = resolve(import.meta.dir, '..');
  const { values, positionals } = parseArgs({ args: argv, options: { outdir: { type: 'string' } }, allowPositionals: true, strict: true });
  const outdir = resolve(root, values.outdir ?? 'dist');
  const unknown = positionals.filter((name) => !releaseTargets.some((target) => target.name === name));
  if (unknown.length) {
    console.error(`release: unknown target ${unknown.join(', ')}; the targets are ${releaseTargets.map((t) => t.name).join(', ')}`);
    return 2;
  }
  const targets = positionals.length ? releaseTargets.filter((target) => positionals.includes(target.name)) : releaseTargets;
  mkdirSync(outdir, { recursive: true });
  // A stale checksum file must never describe a new set of executables.
  rmSync(join(outdir, 'SHA256SUMS'), { force: true });
  const stamp = buildStamp();
  console.log(`parley ${pkg.version}, commit ${stamp.commit}, built ${stamp.builtAt}, Bun ${Bun.version}`);

  const built: string[] = [];
  const failed: string[] = [];
  for (const target of targets) {
    const outfile = join(outdir, executableName(target));
    rmSync(outfile, { force: true });
    const started = performance.now();
    const result = await compile({ outfile, stamp, target: target.bun, cwd: root });
    rmSync(`${outfile}.map`, { force: true });
    if (result.code !== 0) {
      failed.push(target.name);
      rmSync(outfile, { force: true });
      console.error(`FAILED ${executableName(target)}: ${failureReason(target, `${result.stdout}\n${result.stderr}`)}`);
      continue;
    }
    built.push(outfile);
    const { size } = statSync(outfile);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`${executableName(target).padEnd(24)} ${mib(size).padStart(10)}  (${size} bytes, ${seconds} s)`);
  }
  if (failed.length) {
    console.error(`release: ${failed.length} of ${targets.length} targets failed (${failed.join(', ')}); no SHA256SUMS written`);
    return 1;
  }
  const sums = await Promise.all(built.map(async (path) => `${await sha256File(path)}  ${basename(path)}\n`));
  await Bun.write(join(outdir, 'SHA256SUMS'), sums.join(''));
  console.log(`${join(outdir, 'SHA256SUMS')}: ${built.length} executables`);
  return 0;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
