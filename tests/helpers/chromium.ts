// Headless Chromium for end-to-end checks of pages the executable serves (the Swagger UI).
// Every host other than 127.0.0.1 is made unresolvable, so a page that reaches for a CDN fails
// exactly as it would on a machine with no internet.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : (Bun.which(fromEnv) ?? undefined);
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  return Bun.which('chromium') ?? Bun.which('chromium-browser') ?? undefined;
}

/** The Chromium executable found (CHROMIUM_PATH, /usr/bin/chromium, chromium or chromium-browser on PATH), if any. */
export const chromiumPath: string | undefined = findChromium();

export type HeadlessResult = {
  /** The serialized DOM after the page's scripts ran (`--dump-dom`). */
  dom: string;
  /** The screenshot file written, or undefined when none was asked for. */
  screenshotPath?: string;
  /** Chromium's stderr from both runs, for diagnosing failures. */
  stderr: string;
};

const baseFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/** Runs Chromium once with a fresh profile directory; kills it after `timeoutMs`. */
async function runChromium(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!chromiumPath) throw new Error('Chromium is not installed (apt-get install -y chromium, or set CHROMIUM_PATH)');
  const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
  try {
    const proc = Bun.spawn([chromiumPath, ...baseFlags, `--user-data-dir=${profile}`, ...args], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HOME: profile, LANG: 'C.UTF-8' },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    clearTimeout(timer);
    if (timedOut) throw new Error(`chromium did not finish within ${timeoutMs} ms:\n${stderr}`);
    return { code, stdout, stderr };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * Loads `url` in headless Chromium with only 127.0.0.1 reachable and returns the DOM after its
 * scripts ran (virtual time lets them settle). With `screenshotPath`, a second run saves a PNG
 * of a 1280×1600 window there.
 */
export async function loadHeadless(
  url: string,
  options: { screenshotPath?: string; virtualTimeBudgetMs?: number; timeoutMs?: number } = {},
): Promise<HeadlessResult> {
  const budget = `--virtual-time-budget=${options.virtualTimeBudgetMs ?? 10_000}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const dump = await runChromium([budget, '--dump-dom', url], timeoutMs);
  if (dump.code !== 0) throw new Error(`chromium --dump-dom exited with ${dump.code}:\n${dump.stderr}`);
  let stderr = dump.stderr;
  if (options.screenshotPath) {
    const shot = await runChromium(
      [budget, `--screenshot=${options.screenshotPath}`, '--window-size=1280,1600', '--hide-scrollbars', url],
      timeoutMs,
    );
    stderr += shot.stderr;
    if (shot.code !== 0) throw new Error(`chromium --screenshot exited with ${shot.code}:\n${shot.stderr}`);
    if (!existsSync(options.screenshotPath)) throw new Error(`chromium wrote no screenshot to ${options.screenshotPath}:\n${shot.stderr}`);
  }
  return { dom: dump.stdout, screenshotPath: options.screenshotPath, stderr };
}
