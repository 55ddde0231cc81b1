// Strict decoding of environment strings by a TypeBox schema (schema.ts). A value that does not fit
// throws ConfigError naming the variable, so a bad value stops start-up with one line that says what to fix.
import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** A variable whose value cannot be used; the message is one line, `VARIABLE: problem`, and never echoes a secret. */
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

/** Turns one trimmed, non-empty raw value into its typed value (undefined: counts as unset), or throws ConfigError. */
type Decoder = (name: string, raw: string, schema: TSchema) => unknown;

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Decoders by kind: TypeBox's Kind, or 'Url' for strings with `protocols`, 'Duration' for integers of format 'duration'. */
const decoders: Record<string, Decoder> = {
  String: (_name, raw) => raw,

  Integer: (name, raw, { minimum, maximum }) => {
    if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
    const value = Number(raw);
    if ((minimum !== undefined && value < minimum) || (maximum !== undefined && value > maximum)) {
      const range = minimum === undefined ? `${maximum} or less` : `${minimum}${maximum === undefined ? ' or more' : ` to ${maximum}`}`;
      throw new ConfigError(name, `expected ${range}, got ${value}`);
    }
    return value;
  },

  Number: (name, raw, { minimum = -Infinity, maximum = Infinity }) => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < minimum || value > maximum) {
      throw new ConfigError(name, `expected a number from ${minimum} to ${maximum}, got "${raw}"`);
    }
    return value;
  },

  Boolean: (name, raw) => {
    const word = raw.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(word)) return true;
    if (['false', '0', 'no', 'off'].includes(word)) return false;
    throw new ConfigError(name, `expected true or false, got "${word}"`);
  },

  /** A union of string literals: one of them, exactly. */
  Union: (name, raw, schema) => {
    const allowed = (schema.anyOf as TSchema[]).map((literal) => String(literal.const));
    if (!allowed.includes(raw)) throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
    return raw;
  },

  Url: (name, raw, schema) => {
    const protocols = schema.protocols as readonly string[];
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
  },

  Array: (_name, raw) => {
    const items = raw
      .split(',')
      .map((item) => item.trim().replace(/\/+$/, ''))
      .filter(Boolean);
    return items.length > 0 ? items : undefined;
  },

  /** `15m`, `30d`, `900s`, `1500ms` or a bare number of seconds; whole seconds, at least one. */
  Duration: (name, raw) => {
    const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw);
    if (!match) throw new ConfigError(name, `expected a duration such as 15m, 30d or 900 (seconds), got "${raw}"`);
    const ms = Number(match[1]) * durationUnits[match[2] ?? 's']!;
    if (ms < 1000) throw new ConfigError(name, `must be at least one second, got "${raw}"`);
    return Math.floor(ms / 1000);
  },
};

function decoderFor(name: string, schema: TSchema): Decoder {
  const kind = schema.format === 'duration' ? 'Duration' : schema.protocols ? 'Url' : schema[Kind];
  const decoder = decoders[kind];
  if (!decoder) throw new Error(`${name}: no decoder for schema kind ${kind}`);
  return decoder;
}

/**
 * Reads `env` by `schema`, one property per variable, in the schema's order. A value is trimmed;
 * unset or empty, the variable takes (a copy of) its schema default, or stays unset if it has none.
 * Throws ConfigError naming the first variable whose value does not fit.
 */
export function decodeEnv<S extends TObject>(schema: S, env: Env): Static<S> {
  const decoded: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    const raw = env[name]?.trim();
    const value = raw ? decoderFor(name, property)(name, raw, property) : undefined;
    if (value !== undefined) decoded[name] = value;
    else if (property.default !== undefined) decoded[name] = structuredClone(property.default);
  }
  // The decoders and the schema must agree, or the static type would be a lie.
  const mismatch = Value.Errors(schema, decoded).First();
  if (mismatch) throw new Error(`decoded environment does not fit its schema at ${mismatch.path}: ${mismatch.message}`);
  return decoded as Static<S>;
}
