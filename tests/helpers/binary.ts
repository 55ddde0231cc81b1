// Builds dist/parley once per test run and starts copies of it as real processes, on random
// ports, for end-to-end suites that speak HTTP/SSE/websockets to the executable.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import { cheapPasswordHashes } from './services.ts';

export const repoRoot = resolve(import.meta.dir, '../..');
export const binaryPath = join(repoRoot, 'dist/parley');

let built: Promise<string> | undefined;

/** `bun run build`, once per process; later calls reuse the result. */
export function buildBinary(): Promise<string> {
  built ??= (async () => {
    const proc = Bun.spawn([process.execPath, 'run', 'build'], { cwd: repoRoot, stdout: 'pipe', stderr: 'pipe' });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    if (code !== 0) throw new Error(`bun run build failed (${code}):\n${out}\n${err}`);
    return binaryPath;
  })();
  return built;
}

/** A copy of the executable alone in a new empty directory, as a user would drop it on a server. */
export async function copyBinaryToEmptyDir(): Promise<{ dir: string; path: string; remove: () => void }> {
  const source = await buildBinary();
  const dir = mkdtempSync(join(tmpdir(), 'parley-bin-'));
  const path = join(dir, 'parley');
  copyFileSync(source, path);
  return { dir, path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export type RunningBinary = {
  url: string;
  proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** Parsed JSON log lines seen so far on stdout. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first log line matching, or rejects after the timeout. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number>;
};

/** Starts the executable (PORT=0 unless given) and resolves once it logs that it is listening. */
export async function startBinary(options: {
  path: string;
  cwd: string;
  env?: Record<string, string | undefined>;
  args?: string[];
}): Promise<RunningBinary> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PORT: '0',
    HOST: '127.0.0.1',
    // Production refuses hashes below OWASP's cost, and is run as it ships.
    ...(options.env?.NODE_ENV === 'production' ? {} : cheapPasswordHashes),
  };
  for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;
  const proc = Bun.spawn([options.path, ...(options.args ?? [])], {
    cwd: options.cwd,
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderrText = '';
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of proc.stdout) {
      buffer += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          logs.push(JSON.parse(line));
        } catch {
          logs.push({ raw: line });
        }
        for (const wake of [...waiters]) wake();
      }
    }
  })();
  void new Response(proc.stderr).text().then((text) => {
    stderrText = text;
  });
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolvePromise, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolvePromise(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching log line within ${timeoutMs} ms; logs: ${JSON.stringify(logs)}; stderr: ${stderrText}`));
      }, timeoutMs);
      waiters.add(check);
      check();
      void proc.exited.then(() => setTimeout(check, 50));
    });
  const listening = await Promise.race([
    waitForLog((line) => line.msg === 'listening'),
    proc.exited.then(async (code) => {
      await Bun.sleep(50);
      throw new Error(`parley exited with ${code} before listening: ${stderrText}`);
    }),
  ]);
  return {
    url: String(listening.url),
    proc,
    logs,
    stderr: () => stderrText,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}
