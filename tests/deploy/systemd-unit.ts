// A systemd unit reader, and a way to start what a unit's [Service] describes without systemd
// (no systemd runs as PID 1 here): the same user and groups, environment, working directory,
// umask, open-files limit, no new privileges and no capabilities, with every absolute path moved
// under a temporary root. What cannot be reproduced that way (the mount namespace of
// ProtectSystem= and PrivateTmp=, seccomp, address families) is checked with `systemd-analyze`.
import { join } from 'node:path';

export type Unit = Record<string, Record<string, string[]>>;

/**
 * Sections → keys → values in order. A key given again adds a value; an empty assignment empties
 * the list (as systemd does for list settings). Comments (`#`, `;`) and blank lines are skipped;
 * line continuations are refused (the units here use none).
 */
export function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\')) throw new Error(`line ${index + 1}: continuation lines are not supported`);
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = unit[header[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`line ${index + 1}: not a key=value in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section[key] = value === '' ? [] : [...(section[key] ?? []), value];
  }
  return unit;
}

/** The one value of `key` in `section` (the last one given), or undefined. */
export function single(unit: Unit, section: string, key: string): string | undefined {
  return unit[section]?.[key]?.at(-1);
}

/** `Environment=` lines as a map: `KEY=value` each, unquoted (what the units here use). */
export function unitEnvironment(unit: Unit): Record<string, string> {
  const env: Record<string, string> = {};
  for (const assignment of unit.Service?.Environment ?? []) {
    if (/^["']/.test(assignment) || /\s/.test(assignment))
      throw new Error(`quoted or multiple assignments are not supported: ${assignment}`);
    const eq = assignment.indexOf('=');
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return env;
}

/** An EnvironmentFile's `KEY=value` lines (comments and blank lines skipped, no quoting). */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
    env[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return env;
}

/** An absolute path of the unit, moved under `root`. */
export const under = (root: string, path: string) => join(root, path);

/** The account a unit runs as: name, ids and home, from the password database. */
export type Account = { name: string; uid: number; gid: number; home: string; shell: string };

export async function lookupAccount(name: string): Promise<Account | undefined> {
  const proc = Bun.spawn(['getent', 'passwd', name], { stdout: 'pipe', stderr: 'ignore' });
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  if (code !== 0) return undefined;
  const [user, , uid, gid, , home, shell] = out.trim().split(':');
  return { name: user!, uid: Number(uid), gid: Number(gid), home: home!, shell: shell! };
}

export type ServiceLaunch = {
  /** argv to spawn: prlimit → setpriv (user, groups, no new privileges, no capabilities) → sh (umask, cwd) → ExecStart. */
  argv: string[];
  /** The environment systemd would give the process: its own variables, Environment=, then EnvironmentFile=. */
  env: Record<string, string>;
  /** The open-files limit applied (the unit's, or this machine's hard limit when lower and not raisable). */
  nofile: number;
};

/**
 * How to start the unit's service as systemd would, its paths under `root`. `environmentFile`
 * is the parsed content of the unit's EnvironmentFile=; `account` the unit's User= (when the
 * caller is not root and cannot switch users, pass undefined: the process then runs as the caller).
 */
export function serviceLaunch(
  unit: Unit,
  options: { root: string; environmentFile: Record<string, string>; account?: Account; nofile: number; overrides?: Record<string, string> },
): ServiceLaunch {
  const service = unit.Service ?? {};
  const execStart = single(unit, 'Service', 'ExecStart');
  if (!execStart) throw new Error('the unit has no ExecStart=');
  const [binary, ...args] = execStart.split(/\s+/);
  const workingDirectory = single(unit, 'Service', 'WorkingDirectory');
  const umask = single(unit, 'Service', 'UMask') ?? '0022';
  const stateDirectory = service.StateDirectory?.[0];
  const { account, root } = options;

  // What systemd sets itself for a service with User= and StateDirectory=.
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  if (account) Object.assign(env, { USER: account.name, LOGNAME: account.name, HOME: account.home, SHELL: account.shell });
  if (stateDirectory) env.STATE_DIRECTORY = under(root, `/var/lib/${stateDirectory}`);
  for (const [key, value] of Object.entries(unitEnvironment(unit))) env[key] = value.startsWith('/') ? under(root, value) : value;
  Object.assign(env, options.environmentFile, options.overrides);

  const user = account ? ['setpriv', `--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups'] : ['setpriv', '--keep-groups'];
  if (single(unit, 'Service', 'NoNewPrivileges') === 'yes') user.push('--no-new-privs');
  if (service.CapabilityBoundingSet?.length === 0) user.push('--bounding-set=-all', '--inh-caps=-all');
  const cwd = workingDirectory ? under(root, workingDirectory) : '/';
  return {
    argv: [
      'prlimit',
      `--nofile=${options.nofile}:${options.nofile}`,
      '--',
      ...user,
      '--',
      '/bin/sh',
      '-c',
      'umask "$1" && cd "$2" && shift 2 && exec "$@"',
      'sh',
      umask,
      cwd,
      under(root, binary!),
      ...args,
    ],
    env,
    nofile: options.nofile,
  };
}

/** The soft and hard open-files limits of a running process, from /proc. */
export async function openFilesLimit(pid: number): Promise<{ soft: number; hard: number }> {
  const limits = await Bun.file(`/proc/${pid}/limits`).text();
  const match = /^Max open files\s+(\d+)\s+(\d+)/m.exec(limits);
  if (!match) throw new Error(`no open-files limit in /proc/${pid}/limits`);
  return { soft: Number(match[1]), hard: Number(match[2]) };
}

/** The hard open-files limit this process may set (raising it needs privileges the machine may not give). */
export async function settableOpenFiles(wanted: number): Promise<number> {
  const proc = Bun.spawn(['prlimit', `--nofile=${wanted}:${wanted}`, '--', 'true'], { stdout: 'ignore', stderr: 'ignore' });
  if ((await proc.exited) === 0) return wanted;
  const self = await openFilesLimit(process.pid);
  return Math.min(wanted, self.hard);
}
