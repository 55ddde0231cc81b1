import type { LogLevel } from '../../config/index.ts';

type Fields = Record<string, unknown>;

export type Logger = {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
};

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

// Field names whose values must never be written, whatever a caller passes in.
const secretField = /pass(word)?|secret|token|authorization|api[-_]?key|cookie/i;

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => process.stdout.write(`${line}\n`);

/** JSON lines on stdout (or the given sink, for tests that read what was logged). */
export function createLogger(level: LogLevel, sink: LogSink = stdoutSink, base: Fields = {}): Logger {
  const threshold = rank[level];
  const write = (lineLevel: Exclude<LogLevel, 'silent'>, message: string, fields?: Fields) => {
    if (rank[lineLevel] < threshold) return;
    const entry: Fields = { time: new Date().toISOString(), level: lineLevel, msg: message, ...base };
    if (fields) for (const [key, value] of Object.entries(fields)) entry[key] = redact(key, value);
    sink(JSON.stringify(entry, errorReplacer));
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

function redact(key: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  return secretField.test(key) ? '[redacted]' : value;
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return describeError(value);
  return value;
}

// Drizzle puts a failed query's parameters (emails, password hashes…) in its message.
const withoutParams = (text: string) => text.replace(/\r?\nparams:[\s\S]*$/, '');

/** An error fit for a log line: name, code, message and call sites, never query parameters. */
export function describeError(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: withoutParams(error.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(error.cause instanceof Error ? { cause: describeError(error.cause) } : {}),
    stack: error.stack
      ?.split('\n')
      .filter((line) => line.trimStart().startsWith('at '))
      .join('\n'),
  };
}

/** A URL fit for a log line: credentials removed. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.username) parsed.username = parsed.username ? '***' : '';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
