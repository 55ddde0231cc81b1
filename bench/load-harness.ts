// Parent-side pieces shared by bench/concurrency.ts and bench/soak.ts: the paced fake upstream
// as a process, Parley's environment for it, users, the load generator child process, and /proc
// CPU readings. Three processes in all (Parley, bench/pace-upstream.ts, the client), so none of
// them measures with the others' event loop.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Target } from './lib.ts';

/** Generous for every process involved: Bun's fetch otherwise holds 256 connections at most. */
export const maxConnections = '20000';

export type FakeUpstreamProcess = { url: string; openaiBaseURL: string; pid: number; stop(): Promise<void> };

/** bench/pace-upstream.ts in its own process, on a port it picks (it prints its URL). */
export async function spawnPaceUpstream(): Promise<FakeUpstreamProcess> {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, 'pace-upstream.ts')], {
    env: { ...process.env, PORT: '0' },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const kill = () => proc.kill('SIGKILL');
  process.on('exit', kill);
  const reader = proc.stdout.getReader();
  let text = '';
  while (!text.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`pace-upstream exited (${await proc.exited}) before listening`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = text.slice(0, text.indexOf('\n')).trim();
  return {
    url,
    openaiBaseURL: `${url}/v1`,
    pid: proc.pid,
    async stop() {
      proc.kill('SIGTERM');
      await Promise.race([proc.exited, Bun.sleep(3000).then(kill)]);
      process.off('exit', kill);
    },
  };
}

export function parleyLoadTarget(
  parleyPath: string,
  fake: FakeUpstreamProcess,
  models: string[],
  extra: Record<string, string> = {},
): Target {
  return {
    name: 'parley',
    argv: [parleyPath, 'serve'],
    env: {
      NODE_ENV: 'production',
      JWT_SECRET: 'bench-only-secret-'.padEnd(48, 'x'),
      RATE_LIMIT_ENABLED: 'false',
      LOG_LEVEL: 'warn',
      OPENAI_BASE_URL: fake.openaiBaseURL,
      OPENAI_API_KEY: 'sk-fake',
      OPENAI_MODELS: models.join(','),
      DEFAULT_PROVIDER: 'openai',
      // The new setting; builds that predate it ignore it, and Bun's own variable covers them.
      LLM_MAX_CONNECTIONS: maxConnections,
      BUN_CONFIG_MAX_HTTP_REQUESTS: maxConnections,
      ...extra,
    },
  };
}

/** Which of the two settings lifts the upstream connection cap for this executable. */
export function connectionCapNote(parleyPath: string): string {
  let knows = false;
  try {
    knows = readFileSync(parleyPath).includes('LLM_MAX_CONNECTIONS');
  } catch {
    // unreadable: say so below
  }
  return knows
    ? `upstream connection cap: LLM_MAX_CONNECTIONS=${maxConnections} (this build reads it; BUN_CONFIG_MAX_HTTP_REQUESTS=${maxConnections} passed too)`
    : `upstream connection cap: this build does not read LLM_MAX_CONNECTIONS; BUN_CONFIG_MAX_HTTP_REQUESTS=${maxConnections} lifts Bun's 256`;
}

export type BenchUser = { email: string; password: string; accessToken: string };

/** Registers `count` users (argon2 each, so keep it small) and returns their credentials. */
export async function registerUsers(url: string, count: number, tag = 'load'): Promise<BenchUser[]> {
  const run = Date.now().toString(36);
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const email = `bench-${tag}-${run}-${i}@example.com`;
      const password = `bench password ${i}`;
      const response = await fetch(`${url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password, name: `Bench ${i}` }),
      });
      if (response.status !== 201) throw new Error(`register: ${response.status} ${await response.text()}`);
      const { accessToken } = (await response.json()) as { accessToken: string };
      return { email, password, accessToken };
    }),
  );
}

/** Resets a process's VmHWM to its current RSS (Linux; needs to own it), so the peak is the run's own. */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not Linux, or not allowed: VmHWM then includes the setup
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (all cores) the machine spent so far in processes, in interrupts (loopback TCP is mostly softirq), and stolen by the hypervisor. */
export function machineCpu(): { processes: number; irq: number; steal: number } {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    return { processes: (user! + nice! + system!) / 100, irq: (irq! + softirq!) / 100, steal: steal! / 100 };
  } catch {
    return { processes: Number.NaN, irq: Number.NaN, steal: Number.NaN };
  }
}

/** Kernel counters that show connections the listen backlog could not take (all sockets). */
export function listenOverflows(): number {
  try {
    const [names, values] = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('TcpExt:'));
    const index = names!.split(' ').indexOf('ListenOverflows');
    return Number(values!.split(' ')[index]);
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (Linux): for the fake upstream, its listener plus one per connection. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs a load generator script as a child with `job` as JSON in argv[2]. It prints JSON lines:
 * {phase} marks (passed to onPhase with its pid) and finally {result}.
 */
export async function runLoadChild<R>(
  script: string,
  job: unknown,
  onPhase: (phase: string, pid: number) => void = () => undefined,
): Promise<{ result: R; pid: number }> {
  const proc = Bun.spawn([process.execPath, script, JSON.stringify(job)], {
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: maxConnections },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const kill = () => proc.kill('SIGKILL');
  process.on('exit', kill);
  let result: R | undefined;
  let pending = '';
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout) {
    pending += decoder.decode(chunk, { stream: true });
    for (let at = pending.indexOf('\n'); at >= 0; at = pending.indexOf('\n')) {
      const line = pending.slice(0, at);
      pending = pending.slice(at + 1);
      if (!line.startsWith('{')) continue;
      const message = JSON.parse(line) as { phase?: string; result?: R };
      if (message.phase) onPhase(message.phase, proc.pid);
      if (message.result) result = message.result;
    }
  }
  const code = await proc.exited;
  process.off('exit', kill);
  if (result === undefined) throw new Error(`${script} exited with ${code} without a result`);
  return { result, pid: proc.pid };
}
