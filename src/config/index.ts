import { resolve } from 'node:path';
import {
  ConfigError,
  type Env,
  readBoolean,
  readDurationSeconds,
  readEnum,
  readInt,
  readList,
  readNumber,
  readString,
  readUrl,
} from './parse.ts';
import { loadOrCreateJwtSecret } from './secret.ts';

export { ConfigError, type Env } from './parse.ts';

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export { type ProviderName, providerNames } from './vocabulary.ts';

import { type ProviderName, providerNames } from './vocabulary.ts';

export type Config = Readonly<{
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  jwtSecret: string;
  /** True when the secret was generated and kept in DATA_DIR rather than given. */
  jwtSecretGenerated: boolean;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  adminApiKey: string | undefined;
  openai: Readonly<{ apiKey: string | undefined; baseUrl: string | undefined }>;
  anthropic: Readonly<{ apiKey: string | undefined; baseUrl: string | undefined }>;
  ollama: Readonly<{ baseUrl: string | undefined }>;
  defaultProvider: ProviderName;
  defaultModel: string | undefined;
  maxTokens: number;
  temperature: number;
  corsOrigins: readonly string[];
  trustProxy: boolean;
  rateLimit: Readonly<{
    enabled: boolean;
    maxRequests: number;
    windowMs: number;
    authMax: number;
    authWindowMs: number;
    llmPerMinute: number;
    llmPerHour: number;
    llmPerDay: number;
  }>;
  maxFileSize: number;
  smtpUrl: string | undefined;
  mailFrom: string;
  logLevel: LogLevel;
  shutdownGraceMs: number;
  llm: Readonly<{
    firstTokenTimeoutMs: number;
    totalTimeoutMs: number;
    maxRetries: number;
    retryBaseMs: number;
    /** Tried in order after the requested provider/model fails. */
    fallbacks: readonly Readonly<{ provider: ProviderName; model: string }>[];
    /** Models listed when a provider cannot list its own (or alongside, for Anthropic). */
    models: Readonly<Record<'openai' | 'anthropic' | 'ollama', readonly string[]>>;
    echoDelayMs: number;
    /** Upstream connections the provider clients may hold open at once (per origin). */
    maxConnections: number;
    /** Approximate tokens of history sent upstream; older turns are dropped first. */
    contextTokenBudget: number;
  }>;
  /** How long a stream's events stay replayable after its last event. */
  streamTtlSeconds: number;
  /** Quiet time after which a stream reader gets a `: ping` (and the producer is checked). */
  ssePingMs: number;
  /** Bun's server closes a connection silent for longer than this (at most 255 s). */
  httpIdleTimeoutSeconds: number;
  /** How often a running reply refreshes its heartbeat; readers call it interrupted after three missed. */
  replyHeartbeatMs: number;
  /** How often a streaming reply's text so far is written to its message row. */
  replyFlushMs: number;
  /** How long a websocket opened without a token may wait before its auth frame. */
  wsAuthTimeoutMs: number;
  /** Limits of a generic stream (POST /streams): events, and bytes of data in all. */
  streamMaxEvents: number;
  streamMaxBytes: number;
}>;

/** Providers that are usable with this configuration, in the order DEFAULT_PROVIDER falls back through. */
export function configuredProviders(config: Pick<Config, 'openai' | 'anthropic' | 'ollama'>): ProviderName[] {
  const names: ProviderName[] = [];
  if (config.openai.apiKey || config.openai.baseUrl) names.push('openai');
  if (config.anthropic.apiKey) names.push('anthropic');
  if (config.ollama.baseUrl) names.push('ollama');
  names.push('echo');
  return names;
}

/**
 * Parses every variable of the contract once. Pure apart from the generated JWT secret, which is
 * read from (or written to) DATA_DIR when JWT_SECRET is not given.
 */
export function parseConfig(env: Env): Config {
  const nodeEnv = readEnum(env, 'NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const dataDir = resolve(readString(env, 'DATA_DIR') ?? './data');
  const providerKeys = {
    openai: { apiKey: readString(env, 'OPENAI_API_KEY'), baseUrl: readUrl(env, 'OPENAI_BASE_URL', ['http:', 'https:']) },
    anthropic: {
      apiKey: readString(env, 'ANTHROPIC_API_KEY'),
      baseUrl: readUrl(env, 'ANTHROPIC_BASE_URL', ['http:', 'https:']),
    },
    ollama: { baseUrl: readUrl(env, 'OLLAMA_BASE_URL', ['http:', 'https:']) },
  };
  const available = configuredProviders(providerKeys);
  const defaultProvider = readEnum(env, 'DEFAULT_PROVIDER', providerNames, available[0]!);
  if (!available.includes(defaultProvider)) {
    throw new ConfigError('DEFAULT_PROVIDER', `"${defaultProvider}" is not configured (set its API key or base URL)`);
  }

  const givenSecret = readString(env, 'JWT_SECRET');
  const adminApiKey = readString(env, 'ADMIN_API_KEY');
  const corsOrigins = readList(env, 'CORS_ORIGINS');
  if (nodeEnv === 'production') {
    if (!givenSecret) throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
    if (givenSecret.length < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 characters in production');
    if (adminApiKey && adminApiKey.length < 24) {
      throw new ConfigError('ADMIN_API_KEY', 'must be at least 24 characters in production');
    }
    if (corsOrigins.includes('*')) throw new ConfigError('CORS_ORIGINS', 'may not be "*" in production');
  }
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError('CORS_ORIGINS', `"${origin}" is not an origin such as https://app.example.com`);
    }
  }

  // A quiet stream is kept open by its pings: they must come before the server's idle timeout
  // would cut it (Bun's maximum is 255 s), with a second to spare.
  const httpIdleTimeoutSeconds = readInt(env, 'HTTP_IDLE_TIMEOUT_SECONDS', 120, { min: 5, max: 255 });
  const ssePingMs = readInt(env, 'SSE_PING_MS', 15_000, { min: 100, max: 254_000 });
  if (ssePingMs > (httpIdleTimeoutSeconds - 1) * 1000) {
    throw new ConfigError(
      'SSE_PING_MS',
      `must be below HTTP_IDLE_TIMEOUT_SECONDS (${httpIdleTimeoutSeconds} s) less one second, or quiet streams are cut`,
    );
  }

  const secret = givenSecret ? { secret: givenSecret, generated: false } : loadOrCreateJwtSecret(dataDir);

  return deepFreeze({
    nodeEnv,
    port: readInt(env, 'PORT', 3000, { min: 0, max: 65535 }),
    host: readString(env, 'HOST') ?? '0.0.0.0',
    dataDir,
    databaseUrl: readUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: readUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisKeyPrefix: readString(env, 'REDIS_KEY_PREFIX') ?? 'parley:',
    jwtSecret: secret.secret,
    jwtSecretGenerated: secret.generated,
    accessTokenTtlSeconds: readDurationSeconds(env, 'ACCESS_TOKEN_TTL', '15m'),
    refreshTokenTtlSeconds: readDurationSeconds(env, 'REFRESH_TOKEN_TTL', '30d'),
    adminApiKey,
    ...providerKeys,
    defaultProvider,
    defaultModel: readString(env, 'DEFAULT_MODEL'),
    maxTokens: readInt(env, 'MAX_TOKENS', 1000, { min: 1, max: 1_000_000 }),
    temperature: readNumber(env, 'TEMPERATURE', 0.7, { min: 0, max: 2 }),
    corsOrigins,
    trustProxy: readBoolean(env, 'TRUST_PROXY', false),
    rateLimit: {
      enabled: readBoolean(env, 'RATE_LIMIT_ENABLED', true),
      maxRequests: readInt(env, 'RATE_LIMIT_MAX_REQUESTS', 100, { min: 1 }),
      windowMs: readInt(env, 'RATE_LIMIT_WINDOW_MS', 900_000, { min: 1000 }),
      authMax: readInt(env, 'AUTH_RATE_LIMIT_MAX', 5, { min: 1 }),
      authWindowMs: readInt(env, 'AUTH_RATE_LIMIT_WINDOW_MS', 900_000, { min: 1000 }),
      llmPerMinute: readInt(env, 'RATELIMIT_PER_MINUTE', 10, { min: 1 }),
      llmPerHour: readInt(env, 'RATELIMIT_PER_HOUR', 100, { min: 1 }),
      llmPerDay: readInt(env, 'RATELIMIT_PER_DAY', 500, { min: 1 }),
    },
    maxFileSize: readInt(env, 'MAX_FILE_SIZE', 10_485_760, { min: 1 }),
    smtpUrl: readUrl(env, 'SMTP_URL', ['smtp:', 'smtps:']),
    mailFrom: readString(env, 'MAIL_FROM') ?? 'Parley <no-reply@localhost>',
    logLevel: readEnum(env, 'LOG_LEVEL', logLevels, 'info'),
    shutdownGraceMs: readInt(env, 'SHUTDOWN_GRACE_MS', 10_000, { min: 0, max: 600_000 }),
    llm: {
      firstTokenTimeoutMs: readInt(env, 'LLM_FIRST_TOKEN_TIMEOUT_MS', 30_000, { min: 100 }),
      totalTimeoutMs: readInt(env, 'LLM_TOTAL_TIMEOUT_MS', 300_000, { min: 1000 }),
      maxRetries: readInt(env, 'LLM_MAX_RETRIES', 2, { min: 0, max: 10 }),
      retryBaseMs: readInt(env, 'LLM_RETRY_BASE_MS', 250, { min: 0, max: 60_000 }),
      fallbacks: readFallbacks(env, available),
      models: {
        openai: readList(env, 'OPENAI_MODELS').length ? readList(env, 'OPENAI_MODELS') : ['gpt-4o-mini', 'gpt-4o'],
        anthropic: readList(env, 'ANTHROPIC_MODELS').length ? readList(env, 'ANTHROPIC_MODELS') : ['claude-sonnet-4-5', 'claude-haiku-4-5'],
        ollama: readList(env, 'OLLAMA_MODELS'),
      },
      echoDelayMs: readInt(env, 'ECHO_DELAY_MS', 20, { min: 0, max: 10_000 }),
      maxConnections: readInt(env, 'LLM_MAX_CONNECTIONS', 10_000, { min: 1, max: 1_000_000 }),
      contextTokenBudget: readInt(env, 'CONTEXT_TOKEN_BUDGET', 8000, { min: 100 }),
    },
    streamTtlSeconds: readInt(env, 'STREAM_TTL_SECONDS', 3600, { min: 10, max: 7 * 86400 }),
    ssePingMs,
    httpIdleTimeoutSeconds,
    replyHeartbeatMs: readInt(env, 'REPLY_HEARTBEAT_MS', 5_000, { min: 100, max: 60_000 }),
    replyFlushMs: readInt(env, 'REPLY_FLUSH_MS', 300, { min: 20, max: 60_000 }),
    wsAuthTimeoutMs: readInt(env, 'WS_AUTH_TIMEOUT_MS', 5_000, { min: 100, max: 60_000 }),
    streamMaxEvents: readInt(env, 'STREAM_MAX_EVENTS', 10_000, { min: 1 }),
    streamMaxBytes: readInt(env, 'STREAM_MAX_BYTES', 5 * 1024 * 1024, { min: 1024 }),
  });
}

function readFallbacks(env: Env, available: ProviderName[]): { provider: ProviderName; model: string }[] {
  return readList(env, 'LLM_FALLBACKS').map((entry) => {
    const [provider, ...model] = entry.split(':');
    if (!available.includes(provider as ProviderName) || model.length === 0 || !model.join(':')) {
      throw new ConfigError('LLM_FALLBACKS', `"${entry}" is not provider:model with a configured provider`);
    }
    return { provider: provider as ProviderName, model: model.join(':') };
  });
}

/**
 * The process environment. Bun itself reads a `.env` file (and `.env.local`, `.env.<NODE_ENV>`)
 * from the working directory into it before any code runs, also in the compiled executable;
 * variables already set win over the files.
 */
export function readProcessEnv(): Env {
  return { ...process.env };
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}
