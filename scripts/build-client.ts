// `bun run build:client [--outdir DIR]`: the declarations of src/client.ts (what `parley/client`
// exports: the `App` type for Eden treaty) in dist/client/. TypeScript writes declarations for
// every file it compiles (with `--noCheck`: `bun run typecheck` is the check); only client.d.ts
// and the few files its types name are kept. Those may import nothing but `elysia` and its peer
// `@sinclair/typebox`, which a front end installs with @elysiajs/eden: any other import means a
// route's type leaks a server-only type, and the build fails naming it.
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dir, '..');
/** Packages the kept declarations may import: a front end's install has them (Eden's peer, and its peer). */
export const clientPeers = ['elysia', '@sinclair/typebox'];

const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** client.d.ts and every declaration file it reaches, and the packages they import (specifier → the files importing it). */
export async function declarationClosure(emitDir: string) {
  const files = new Set<string>();
  const packages = new Map<string, Set<string>>();
  const queue = [join(emitDir, 'client.d.ts')];
  for (let file = queue.pop(); file; file = queue.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const text = await Bun.file(file).text();
    for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]/g)) {
      if (specifier!.startsWith('.')) queue.push(resolve(dirname(file), specifier!.replace(/\.ts$/, '.d.ts')));
      else packages.set(packageOf(specifier!), (packages.get(packageOf(specifier!)) ?? new Set()).add(relative(emitDir, file)));
    }
  }
  return { files: [...files].map((file) => relative(emitDir, file)).sort(), packages };
}

/**
 * The declarations as a package of their own, `parley` with only `parley/client` and Elysia as
 * its peer, packed to `<outdir>/../parley-client-<version>.tgz`. A front end installs that file:
 * npm copies it, so its types resolve `elysia` in the front end's own node_modules (a `file:`
 * link to this checkout would resolve the server's copy, and Eden sees two Elysias).
 */
async function packClient(outdir: string): Promise<number> {
  const server = await Bun.file(join(root, 'package.json')).json();
  const manifest = {
    name: server.name,
    version: server.version,
    description: 'Types of the Parley server for Eden treaty (parley/client)',
    license: server.license,
    exports: { './client': { types: './client.d.ts' }, './package.json': './package.json' },
    typesVersions: { '*': { client: ['./client.d.ts'] } },
    peerDependencies: { elysia: server.dependencies.elysia },
  };
  await Bun.write(join(outdir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const tarball = join(dirname(outdir), `parley-client-${server.version}.tgz`);
  const pack = Bun.spawn([process.execPath, 'pm', 'pack', '--filename', tarball, '--ignore-scripts', '--quiet'], {
    cwd: outdir,
    stdout: 'ignore',
    stderr: 'inherit',
  });
  if ((await pack.exited) !== 0) return 1;
  console.log(`${relative(root, tarball)}: install it in a front end (npm install <path>)`);
  return 0;
}

async function main(argv: string[]) {
  const { values } = parseArgs({ args: argv, options: { outdir: { type: 'string' } }, strict: true });
  const outdir = resolve(root, values.outdir ?? 'dist/client');
  const emitDir = mkdtempSync(join(tmpdir(), 'parley-client-emit-'));
  try {
    const tsc = Bun.spawn(
      [join(root, 'node_modules/.bin/tsc'), '-p', join(root, 'tsconfig.client.json'), '--outDir', emitDir, '--noCheck'],
      {
        cwd: root,
        stdout: 'inherit',
        stderr: 'inherit',
      },
    );
    if ((await tsc.exited) !== 0) return 1;
    const { files, packages } = await declarationClosure(emitDir);
    const leaks = [...packages].filter(([name]) => !clientPeers.includes(name));
    if (leaks.length) {
      for (const [name, importers] of leaks)
        console.error(`build:client: ${[...importers].join(', ')} import ${name}, which a front end does not have`);
      return 1;
    }
    rmSync(outdir, { recursive: true, force: true });
    for (const file of files) {
      mkdirSync(dirname(join(outdir, file)), { recursive: true });
      cpSync(join(emitDir, file), join(outdir, file));
    }
    const bytes = files.reduce((sum, file) => sum + Bun.file(join(outdir, file)).size, 0);
    console.log(
      `${relative(root, outdir) || outdir}: ${files.length} declaration files, ${(bytes / 1024).toFixed(0)} KiB, importing ${[...packages.keys()].join(', ')}`,
    );
    return await packClient(outdir);
  } finally {
    rmSync(emitDir, { recursive: true, force: true });
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
