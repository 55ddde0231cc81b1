// How every Parley executable is compiled: `bun run build` (dist/parley, for this machine) and
// `bun run release` (one per platform) share these flags and this build stamp, so a release
// executable is the same program as the one the tests start.

/** The program every executable runs. */
export const entry = 'src/cli.ts';

/**
 * Flags of `bun build` for every executable. `--minify-whitespace --minify-syntax` and never
 * `--minify`: identifier minification switched off Elysia's query coercion in the executable
 * (out-of-range limits reached the database). `--bytecode` (with ESM: there is top-level await)
 * shortens start-up; `--sourcemap` is embedded, so stack traces name the source files.
 */
export const compileFlags = ['--compile', '--minify-whitespace', '--minify-syntax', '--sourcemap', '--bytecode', '--format=esm'];

/** What `parley --version` reports besides the version: the commit built and when (ISO 8601 UTC, to the second). */
export type BuildStamp = { commit: string; builtAt: string };

/** git's answer, or undefined outside a repository or where git is not installed (a Docker build stage). */
function git(args: string[]): string | undefined {
  try {
    const result = Bun.spawnSync(['git', ...args], { stdout: 'pipe', stderr: 'ignore' });
    return result.exitCode === 0 ? result.stdout.toString().trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stamp for a build now. The commit is `PARLEY_COMMIT` when set (a Docker build has no .git),
 * else `git rev-parse HEAD` with `-dirty` when the work tree has changes, else `unknown`. The time
 * is `SOURCE_DATE_EPOCH` (seconds) when set, for reproducible builds, else now.
 */
export function buildStamp(env: Record<string, string | undefined> = process.env): BuildStamp {
  let commit = env.PARLEY_COMMIT?.trim();
  if (!commit) {
    const head = git(['rev-parse', 'HEAD']);
    commit = head ? `${head}${git(['status', '--porcelain']) ? '-dirty' : ''}` : 'unknown';
  }
  const epoch = env.SOURCE_DATE_EPOCH?.trim();
  const time = epoch ? new Date(Number(epoch) * 1000) : new Date();
  if (Number.isNaN(time.getTime())) throw new Error(`SOURCE_DATE_EPOCH is not a number of seconds: ${epoch}`);
  return { commit, builtAt: time.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** `--define` flags that put the stamp into src/version.ts (its PARLEY_COMMIT and PARLEY_BUILT_AT). */
export function defineFlags(stamp: BuildStamp): string[] {
  return ['--define', `PARLEY_COMMIT=${JSON.stringify(stamp.commit)}`, '--define', `PARLEY_BUILT_AT=${JSON.stringify(stamp.builtAt)}`];
}

/** The whole `bun build` argv for one executable; `target` is a Bun target such as `bun-linux-arm64-musl` (unset: this machine). */
export function compileCommand(options: { outfile: string; stamp: BuildStamp; target?: string }): string[] {
  const target = options.target ? [`--target=${options.target}`] : [];
  return [process.execPath, 'build', entry, ...compileFlags, ...target, ...defineFlags(options.stamp), '--outfile', options.outfile];
}

/** Runs one compile; resolves with its exit code and output (Bun prints progress on stdout, problems on stderr). */
export async function compile(options: { outfile: string; stamp: BuildStamp; target?: string; cwd: string }) {
  const proc = Bun.spawn(compileCommand(options), { cwd: options.cwd, stdout: 'pipe', stderr: 'pipe' });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}
