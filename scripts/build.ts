// `bun run build`: dist/parley for this machine, with the flags and stamp of scripts/compile.ts.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildStamp, compile } from './compile.ts';

const root = resolve(import.meta.dir, '..');
const outfile = join(root, 'dist/parley');
const stamp = buildStamp();
const result = await compile({ outfile, stamp, cwd: root });
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
if (result.code !== 0) process.exit(result.code);
// The source map is inside the executable too (--sourcemap with --compile); the copy beside it is not needed to run.
rmSync(`${outfile}.map`, { force: true });
console.log(`dist/parley: commit ${stamp.commit}, built ${stamp.builtAt}`);
