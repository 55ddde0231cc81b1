import { resolve } from 'node:path';
import { ConfigError, decodeEnv, type Env } from './parse.ts';
import { EnvSchema } from './schema.ts';
import { loadOrCreateJwtSecret } from './secret.ts';
import { canonicalProvider, type ProviderName } from './vocabulary.ts';

export { ConfigError, type Env } from './parse.ts';
export { type DecodedEnv, EnvSchema } from './schema.ts';
export { type LogLevel, logLevels, type ProviderName, providerNames } from './vocabulary.ts';

/**
 * The configuration the app uses: nested, typed, deeply frozen. Derived from parseConfig, whose
 * fields come from the variables of EnvSchema (their meaning, defaults and ranges are declared there).
 */
export type Config = ReturnType<typeof parseConfig>;

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
 * Decodes every variable of EnvSchema once, applies the rules between variables and returns the
 * nested, deeply frozen Config. Pure apart from the generated JWT secret, which is read from (or
 * written to) DATA_DIR when JWT_SECRET is not given. Throws ConfigError naming the variable to fix.
 */
export function parseConfig(raw: Env) {
  const env = decodeEnv(EnvSchema, raw);
  const dataDir = resolve(env.DATA_DIR);
  const providerKeys = {
    openai: { apiKey: env.OPENAI_API_KEY, baseUrl: env.OPENAI_BASE_URL },
    anthropic: { apiKey: env.ANTHROPIC_API_KEY, baseUrl: env.ANTHROPIC_BASE_URL },
    ollama: { baseUrl: env.OLLAMA_BASE_URL },
  };
  const available = configuredProviders(providerKeys);
  // The schema took only provider words, so a given one always names a provider.
  const defaultProvider = env.DEFAULT_PROVIDER ? canonicalProvider(env.DEFAULT_PROVIDER)! : available[0]!;
  if (!available.includes(defaultProvider)) {
    throw new ConfigError('DEFAULT_PROVIDER', `"${defaultProvider}" is not configured (set its API key or base URL)`);
  }

  const { JWT_SECRET: givenSecret, ADMIN_API_KEY: adminApiKey, CORS_ORIGINS: corsOrigins } = env;
  if (env.NODE_ENV === 'production') {
    if (!givenSecret) throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
    if (givenSecret.length < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 characters in production');
    if (adminApiKey && adminApiKey.length < 24) {
      throw new ConfigError('ADMIN_API_KEY', 'must be at least 24 characters in production');
    }
    if (corsOrigins.includes('*')) throw new ConfigError('CORS_ORIGINS', 'may not be "*" in production');
    // OWASP Password Storage Cheat Sheet: argon2id with at least 19 MiB and 2 passes.
    if (env.PASSWORD_HASH_MEMORY_KIB < 19_456) throw new ConfigError('PASSWORD_HASH_MEMORY_KIB', 'must be at least 19456 in production');
    if (env.PASSWORD_HASH_TIME_COST < 2) throw new ConfigError('PASSWORD_HASH_TIME_COST', 'must be at least 2 in production');
  }
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError('CORS_ORIGINS', `"${origin}" is not an origin such as https://app.example.com`);
    }
  }

  // A quiet stream is kept open by its pings: they must come before the server's idle timeout
  // would cut it (Bun's maximum is 255 s), with a second to spare.
  if (env.SSE_PING_MS > (env.HTTP_IDLE_TIMEOUT_SECONDS - 1) * 1000) {
    throw new ConfigError(
      'SSE_PING_MS',
      `must be below HTTP_IDLE_TIMEOUT_SECONDS (${env.HTTP_IDLE_TIMEOUT_SECONDS} s) less one second, or quiet streams are cut`,
    );
  }
  // Parley never terminates TLS itself: without a trusted proxy saying how a request came, every
  // request looks plain and each redirect would be answered by another.
  if (env.FORCE_HTTPS && !env.TRUST_PROXY) {
    throw new ConfigError(
      'FORCE_HTTPS',
      'needs TRUST_PROXY=true (only a trusted proxy says by X-Forwarded-Proto that a request came over HTTPS)',
    );
  }
  if (Boolean(env.S3_ACCESS_KEY_ID) !== Boolean(env.S3_SECRET_ACCESS_KEY)) {
    throw new ConfigError(
      env.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID',
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together',
    );
  }
  if (!env.S3_BUCKET && (env.S3_ENDPOINT || env.S3_ACCESS_KEY_ID)) {
    throw new ConfigError('S3_BUCKET', 'is needed when S3_ENDPOINT or S3 keys are set (without it files go to DATA_DIR)');
  }
  const fallbacks = parseFallbacks(env.LLM_FALLBACKS, available);
  const tiers = parseTierLimits(env);

  const secret = givenSecret ? { secret: givenSecret, generated: false } : loadOrCreateJwtSecret(dataDir);

  return deepFreeze({
    nodeEnv: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    dataDir,
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    jwtSecret: secret.secret,
    /** True when the secret was generated and kept in DATA_DIR rather than given. */
    jwtSecretGenerated: secret.generated,
    passwordHash: { memoryKib: env.PASSWORD_HASH_MEMORY_KIB, timeCost: env.PASSWORD_HASH_TIME_COST },
    accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL,
    refreshTokenTtlSeconds: env.REFRESH_TOKEN_TTL,
    adminApiKey,
    ...providerKeys,
    defaultProvider,
    defaultModel: env.DEFAULT_MODEL,
    maxTokens: env.MAX_TOKENS,
    temperature: env.TEMPERATURE,
    corsOrigins,
    trustProxy: env.TRUST_PROXY,
    forceHttps: env.FORCE_HTTPS,
    compressionMinBytes: env.COMPRESSION_MIN_BYTES,
    rateLimit: {
      enabled: env.RATE_LIMIT_ENABLED,
      maxRequests: env.RATE_LIMIT_MAX_REQUESTS,
      windowMs: env.RATE_LIMIT_WINDOW_MS,
      authMax: env.AUTH_RATE_LIMIT_MAX,
      authWindowMs: env.AUTH_RATE_LIMIT_WINDOW_MS,
      /** LLM calls per window and tokens per calendar month (UTC), by tier (guests by role); 0 = unlimited. */
      tiers,
      searchPerMinute: env.SEARCH_RATE_LIMIT_PER_MINUTE,
      uploadsPerHour: env.UPLOAD_RATE_LIMIT_PER_HOUR,
    },
    maxFileSize: env.MAX_FILE_SIZE,
    maxFilesPerUpload: env.MAX_FILES_PER_UPLOAD,
    /** S3-compatible storage for files; null = local disk under DATA_DIR. */
    s3: env.S3_BUCKET
      ? {
          bucket: env.S3_BUCKET,
          endpoint: env.S3_ENDPOINT,
          region: env.S3_REGION,
          accessKeyId: env.S3_ACCESS_KEY_ID,
          secretAccessKey: env.S3_SECRET_ACCESS_KEY,
        }
      : null,
    /** An OpenAI-compatible speech server; null = voice answers 503. Falls back to OpenAI's when OPENAI_API_KEY is set. */
    speech: speechConfig(env),
    smtpUrl: env.SMTP_URL,
    mailFrom: env.MAIL_FROM,
    logLevel: env.LOG_LEVEL,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    databaseCloseTimeoutMs: env.DATABASE_CLOSE_TIMEOUT_MS,
    /** Backups of the SQLite database kept beside it, taken before migrations (0 = none). */
    sqliteBackups: env.SQLITE_BACKUPS,
    llm: {
      firstTokenTimeoutMs: env.LLM_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: env.LLM_IDLE_TIMEOUT_MS,
      totalTimeoutMs: env.LLM_TOTAL_TIMEOUT_MS,
      maxRetries: env.LLM_MAX_RETRIES,
      retryBaseMs: env.LLM_RETRY_BASE_MS,
      /** Tried in order after the requested provider/model fails. */
      fallbacks,
      /** Models listed when a provider cannot list its own (or alongside, for Anthropic). */
      models: { openai: env.OPENAI_MODELS, anthropic: env.ANTHROPIC_MODELS, ollama: env.OLLAMA_MODELS },
      /** Glob patterns of the models that take images, per provider (echo takes any). */
      visionModels: { openai: env.OPENAI_VISION_MODELS, anthropic: env.ANTHROPIC_VISION_MODELS, ollama: env.OLLAMA_VISION_MODELS },
      echoDelayMs: env.ECHO_DELAY_MS,
      maxConnections: env.LLM_MAX_CONNECTIONS,
      contextTokenBudget: env.CONTEXT_TOKEN_BUDGET,
    },
    streamTtlSeconds: env.STREAM_TTL_SECONDS,
    idempotencyTtlSeconds: env.IDEMPOTENCY_TTL_SECONDS,
    /** How long a stored /v1/responses response is kept (RESPONSES_TTL_SECONDS). */
    responsesTtlSeconds: env.RESPONSES_TTL_SECONDS,
    ssePingMs: env.SSE_PING_MS,
    httpIdleTimeoutSeconds: env.HTTP_IDLE_TIMEOUT_SECONDS,
    replyHeartbeatMs: env.REPLY_HEARTBEAT_MS,
    replyFlushMs: env.REPLY_FLUSH_MS,
    replySweepMs: env.REPLY_SWEEP_MS,
    wsAuthTimeoutMs: env.WS_AUTH_TIMEOUT_MS,
    revocationRecheckMs: env.REVOCATION_RECHECK_MS,
    housekeepingIntervalMs: env.HOUSEKEEPING_INTERVAL_MS,
    streamMaxEvents: env.STREAM_MAX_EVENTS,
    streamMaxBytes: env.STREAM_MAX_BYTES,
    /** Seconds a transcript read stays cached, by the reader's tier (guests by role); 0 = not cached. */
    transcriptCacheTtlSeconds: parseTierSeconds('TRANSCRIPT_CACHE_TTL', env.TRANSCRIPT_CACHE_TTL, {
      guest: 60,
      free: 300,
      pro: 3600,
      enterprise: 3600,
    }),
    /** Pipelines: executions per instance, a step's default timeout and retries, the retry backoff, and (BullMQ) the job lock. */
    pipelines: {
      concurrency: env.PIPELINE_CONCURRENCY,
      stepTimeoutMs: env.PIPELINE_STEP_TIMEOUT_MS,
      stepRetries: env.PIPELINE_STEP_RETRIES,
      retryBaseMs: env.PIPELINE_RETRY_BASE_MS,
      stallMs: env.PIPELINE_STALL_MS,
    },
  });
}

/** LLM_FALLBACKS entries as provider:model (the model may hold colons); each provider must be configured. */
function parseFallbacks(entries: readonly string[], available: readonly ProviderName[]): { provider: ProviderName; model: string }[] {
  return entries.map((entry) => {
    const [word = '', ...model] = entry.split(':');
    const provider = canonicalProvider(word);
    if (!provider || !available.includes(provider) || model.length === 0 || !model.join(':')) {
      throw new ConfigError('LLM_FALLBACKS', `"${entry}" is not provider:model with a configured provider`);
    }
    return { provider, model: model.join(':') };
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

type DeepReadonly<T> = T extends readonly (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

function deepFreeze<T extends object>(value: T): DeepReadonly<T> {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value) as DeepReadonly<T>;
}

export const limitTiers = ['guest', 'free', 'pro', 'enterprise'] as const;
export type LimitTier = (typeof limitTiers)[number];

/** The tier whose limits apply (config.rateLimit.tiers): guests by role, everyone else by their tier. */
export function limitTier(user: { role: string; tier: string }): LimitTier {
  if (user.role === 'guest') return 'guest';
  return user.tier === 'pro' || user.tier === 'enterprise' ? user.tier : 'free';
}
/**
 * One tier's limits; 0 = unlimited: LLM calls per minute, hour and day; tokens (input + output)
 * per calendar month (UTC); replies generating at once; bytes of stored files.
 */
export type TierLimits = {
  perMinute: number;
  perHour: number;
  perDay: number;
  tokensPerMonth: number;
  concurrentReplies: number;
  storageBytes: number;
};

const MiB = 1024 * 1024;
const tierKeys = {
  minute: 'perMinute',
  hour: 'perHour',
  day: 'perDay',
  tokens: 'tokensPerMonth',
  concurrent: 'concurrentReplies',
  storage: 'storageBytes',
} as const;

/** Reads `minute=N,hour=N,day=N,tokens=N,concurrent=N,storage=N` (any subset, any order) over `defaults`; throws ConfigError naming `variable`. */
export function parseTierSpec(variable: string, spec: string | undefined, defaults: TierLimits): TierLimits {
  const limits = { ...defaults };
  if (spec === undefined || spec.trim() === '') return limits;
  const seen = new Set<string>();
  for (const item of spec.split(',')) {
    const part = item.trim();
    if (part === '') continue;
    const match = /^([a-z]+)\s*=\s*(\S+)$/.exec(part);
    if (!match) throw new ConfigError(variable, `"${part}" is not key=number (keys: ${Object.keys(tierKeys).join(', ')})`);
    const [, key, value] = match as unknown as [string, string, string];
    if (!(key in tierKeys)) throw new ConfigError(variable, `unknown key "${key}" (keys: ${Object.keys(tierKeys).join(', ')})`);
    if (seen.has(key)) throw new ConfigError(variable, `"${key}" is given twice`);
    seen.add(key);
    if (!/^\d{1,15}$/.test(value)) throw new ConfigError(variable, `${key}="${value}" is not a whole number ≥ 0 (0 = unlimited)`);
    limits[tierKeys[key as keyof typeof tierKeys]] = Number(value);
  }
  return limits;
}

/** Reads `guest=N,free=N,pro=N,enterprise=N` (whole seconds ≥ 0, any subset, any order) over `defaults`; throws ConfigError naming `variable`. */
export function parseTierSeconds(
  variable: string,
  spec: string | undefined,
  defaults: Record<LimitTier, number>,
): Record<LimitTier, number> {
  const values = { ...defaults };
  if (spec === undefined || spec.trim() === '') return values;
  const seen = new Set<string>();
  for (const item of spec.split(',')) {
    const part = item.trim();
    if (part === '') continue;
    const match = /^([a-z]+)\s*=\s*(\S+)$/.exec(part);
    if (!match) throw new ConfigError(variable, `"${part}" is not tier=seconds (tiers: ${limitTiers.join(', ')})`);
    const [, tier, value] = match as unknown as [string, string, string];
    if (!limitTiers.includes(tier as LimitTier))
      throw new ConfigError(variable, `unknown tier "${tier}" (tiers: ${limitTiers.join(', ')})`);
    if (seen.has(tier)) throw new ConfigError(variable, `"${tier}" is given twice`);
    seen.add(tier);
    if (!/^\d{1,9}$/.test(value))
      throw new ConfigError(variable, `${tier}="${value}" is not a whole number of seconds ≥ 0 (0 = not cached)`);
    values[tier as LimitTier] = Number(value);
  }
  return values;
}

/** The speech server: SPEECH_BASE_URL (with SPEECH_API_KEY if it needs one), else OpenAI's when OPENAI_API_KEY is set, else none. */
function speechConfig(env: {
  SPEECH_BASE_URL?: string;
  SPEECH_API_KEY?: string;
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL?: string;
  SPEECH_TRANSCRIBE_MODEL: string;
  SPEECH_SYNTHESIZE_MODEL: string;
  SPEECH_VOICES: string[];
  MAX_AUDIO_SECONDS: number;
}) {
  const server = env.SPEECH_BASE_URL
    ? { baseUrl: env.SPEECH_BASE_URL, apiKey: env.SPEECH_API_KEY ?? null }
    : env.OPENAI_API_KEY
      ? { baseUrl: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', apiKey: env.OPENAI_API_KEY }
      : null;
  if (!server) return null;
  return {
    ...server,
    transcribeModel: env.SPEECH_TRANSCRIBE_MODEL,
    synthesizeModel: env.SPEECH_SYNTHESIZE_MODEL,
    voices: env.SPEECH_VOICES,
    maxAudioSeconds: env.MAX_AUDIO_SECONDS,
  };
}

function parseTierLimits(env: {
  RATELIMIT_PER_MINUTE: number;
  RATELIMIT_PER_HOUR: number;
  RATELIMIT_PER_DAY: number;
  TIER_LIMITS_GUEST?: string;
  TIER_LIMITS_FREE?: string;
  TIER_LIMITS_PRO?: string;
  TIER_LIMITS_ENTERPRISE?: string;
}): Record<LimitTier, TierLimits> {
  const free = parseTierSpec('TIER_LIMITS_FREE', env.TIER_LIMITS_FREE, {
    perMinute: env.RATELIMIT_PER_MINUTE,
    perHour: env.RATELIMIT_PER_HOUR,
    perDay: env.RATELIMIT_PER_DAY,
    tokensPerMonth: 1_000_000,
    concurrentReplies: 5,
    storageBytes: 100 * MiB,
  });
  const scaled = (factor: number, tokensPerMonth: number, concurrentReplies: number, storageBytes: number): TierLimits => ({
    perMinute: free.perMinute === 0 ? 0 : Math.max(1, Math.ceil(free.perMinute * factor)),
    perHour: free.perHour === 0 ? 0 : Math.max(1, Math.ceil(free.perHour * factor)),
    perDay: free.perDay === 0 ? 0 : Math.max(1, Math.ceil(free.perDay * factor)),
    tokensPerMonth,
    concurrentReplies,
    storageBytes,
  });
  return {
    guest: parseTierSpec('TIER_LIMITS_GUEST', env.TIER_LIMITS_GUEST, scaled(0.5, 100_000, 2, 20 * MiB)),
    free,
    pro: parseTierSpec('TIER_LIMITS_PRO', env.TIER_LIMITS_PRO, scaled(5, 10_000_000, 20, 1024 * MiB)),
    enterprise: parseTierSpec('TIER_LIMITS_ENTERPRISE', env.TIER_LIMITS_ENTERPRISE, scaled(20, 0, 100, 10 * 1024 * MiB)),
  };
}
