// Small, strict readers for environment values. Each throws ConfigError naming the variable,
// so a bad value stops start-up with one line that says what to fix.

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/** The value, trimmed; empty strings count as unset. */
export function readString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

export function readInt(env: Env, name: string, fallback: number, range: { min: number; max?: number }): number {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < range.min || (range.max !== undefined && value > range.max)) {
    throw new ConfigError(name, `expected ${range.min}${range.max === undefined ? ' or more' : ` to ${range.max}`}, got ${value}`);
  }
  return value;
}

export function readNumber(env: Env, name: string, fallback: number, range: { min: number; max: number }): number {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < range.min || value > range.max) {
    throw new ConfigError(name, `expected a number from ${range.min} to ${range.max}, got "${raw}"`);
  }
  return value;
}

export function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = readString(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

export function readEnum<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = readString(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Durations like `15m`, `30d`, `900s` or a bare number of seconds; returns seconds. */
export function readDurationSeconds(env: Env, name: string, fallback: string): number {
  const raw = readString(env, name) ?? fallback;
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw);
  if (!match) throw new ConfigError(name, `expected a duration such as 15m, 30d or 900 (seconds), got "${raw}"`);
  const ms = Number(match[1]) * durationUnits[match[2] ?? 's']!;
  if (ms < 1000) throw new ConfigError(name, `must be at least one second, got "${raw}"`);
  return Math.floor(ms / 1000);
}

export function readUrl(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = readString(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL`);
  }
  return raw.replace(/\/+$/, '');
}

export function readList(env: Env, name: string): string[] {
  const raw = readString(env, name);
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((item) => item.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}
