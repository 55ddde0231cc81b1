import { describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kind } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError, EnvSchema, parseConfig } from '../../src/config/index.ts';
import { decodeEnv } from '../../src/config/parse.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'parley-config-'));

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig({ DATA_DIR: tempDir(), ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config: happy', () => {
  test('happy: DATA_DIR defaults to ./data', () => {
    const cwd = process.cwd();
    const dir = tempDir();
    process.chdir(dir);
    try {
      expect(parseConfig({}).dataDir).toBe(join(dir, 'data'));
    } finally {
      process.chdir(cwd);
    }
  });

  test('security: the generated JWT secret is kept in DATA_DIR with mode 0600 and reused', () => {
    const dataDir = tempDir();
    const first = parseConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'jwt-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.jwtSecret);
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(parseConfig({ DATA_DIR: dataDir }).jwtSecret).toBe(first.jwtSecret);
  });

  test('happy: a given JWT_SECRET is used and nothing is written', () => {
    const dataDir = tempDir();
    const config = parseConfig({ DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(40) });
    expect(config.jwtSecret).toBe('x'.repeat(40));
    expect(config.jwtSecretGenerated).toBe(false);
  });

  test('happy: values are parsed and the object is frozen, deeply', () => {
    const config = parseConfig({
      DATA_DIR: tempDir(),
      PORT: '8080',
      ACCESS_TOKEN_TTL: '2h',
      REFRESH_TOKEN_TTL: '7d',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:5173/',
      RATE_LIMIT_ENABLED: 'false',
      OPENAI_API_KEY: 'sk-test',
      DATABASE_URL: 'postgres://u:p@db:5432/parley',
      TEMPERATURE: '0',
    });
    expect(config.port).toBe(8080);
    expect(config.accessTokenTtlSeconds).toBe(7200);
    expect(config.refreshTokenTtlSeconds).toBe(7 * 86400);
    expect(config.corsOrigins).toEqual(['https://a.example.com', 'http://localhost:5173']);
    expect(config.rateLimit.enabled).toBe(false);
    expect(config.defaultProvider).toBe('openai');
    expect(config.temperature).toBe(0);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.rateLimit)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow();
  });
});

describe('config: error', () => {
  test.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x/y' }],
    ['REDIS_URL', { REDIS_URL: 'not a url' }],
    ['ACCESS_TOKEN_TTL', { ACCESS_TOKEN_TTL: '15 minutes' }],
    ['TEMPERATURE', { TEMPERATURE: '3' }],
    ['RATE_LIMIT_ENABLED', { RATE_LIMIT_ENABLED: 'maybe' }],
    ['MAX_FILE_SIZE', { MAX_FILE_SIZE: '0' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['CORS_ORIGINS', { CORS_ORIGINS: 'not-an-origin' }],
    ['DEFAULT_PROVIDER', { DEFAULT_PROVIDER: 'anthropic' }],
    ['DEFAULT_PROVIDER', { DEFAULT_PROVIDER: 'gemini' }],
    ['TRANSCRIPT_CACHE_TTL', { TRANSCRIPT_CACHE_TTL: 'platinum=60' }],
    ['TRANSCRIPT_CACHE_TTL', { TRANSCRIPT_CACHE_TTL: 'free=-1' }],
    ['TRANSCRIPT_CACHE_TTL', { TRANSCRIPT_CACHE_TTL: 'free=1,free=2' }],
  ])('error: a bad %s is refused with one line naming it', (variable, env) => {
    const error = configError(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  test('security: production refuses to start without a strong JWT_SECRET', () => {
    expect(configError({ NODE_ENV: 'production' }).variable).toBe('JWT_SECRET');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 'short' }).variable).toBe('JWT_SECRET');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ADMIN_API_KEY: 'weak' }).variable).toBe('ADMIN_API_KEY');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), CORS_ORIGINS: '*' }).variable).toBe('CORS_ORIGINS');
    // OWASP's floor for argon2id: 19 MiB and 2 passes. Tests run cheaper; production may not.
    const strong = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) };
    expect(configError({ ...strong, PASSWORD_HASH_MEMORY_KIB: '19455' }).variable).toBe('PASSWORD_HASH_MEMORY_KIB');
    expect(configError({ ...strong, PASSWORD_HASH_TIME_COST: '1' }).variable).toBe('PASSWORD_HASH_TIME_COST');
    expect(parseConfig({ ...strong, DATA_DIR: tempDir(), PASSWORD_HASH_MEMORY_KIB: '19456' }).passwordHash).toEqual({
      memoryKib: 19_456,
      timeCost: 2,
    });
    expect(parseConfig({ DATA_DIR: tempDir(), NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }).nodeEnv).toBe('production');
  });

  test('security: the message never echoes a secret value', () => {
    const error = configError({ NODE_ENV: 'production', JWT_SECRET: 'hunter2-secret' });
    expect(error.message).not.toContain('hunter2');
  });
});

describe('config: stream keep-alive and upstream connections', () => {
  test('happy: LLM_MAX_CONNECTIONS defaults high enough for thousands of replies, and can be set', () => {
    expect(parseConfig({ DATA_DIR: tempDir() }).llm.maxConnections).toBe(10_000);
    expect(parseConfig({ DATA_DIR: tempDir(), LLM_MAX_CONNECTIONS: '20000' }).llm.maxConnections).toBe(20_000);
  });

  test('error: LLM_MAX_CONNECTIONS must be a positive whole number', () => {
    expect(configError({ LLM_MAX_CONNECTIONS: '0' }).message).toContain('LLM_MAX_CONNECTIONS');
    expect(configError({ LLM_MAX_CONNECTIONS: 'many' }).message).toContain('LLM_MAX_CONNECTIONS');
  });

  test('happy: pings come before the idle timeout would cut a quiet stream', () => {
    const config = parseConfig({ DATA_DIR: tempDir(), HTTP_IDLE_TIMEOUT_SECONDS: '30', SSE_PING_MS: '29000' });
    expect(config.httpIdleTimeoutSeconds).toBe(30);
    expect(config.ssePingMs).toBe(29_000);
    expect(parseConfig({ DATA_DIR: tempDir() })).toMatchObject({ httpIdleTimeoutSeconds: 120, ssePingMs: 15_000 });
  });

  test('error: SSE_PING_MS at or above the idle timeout is refused at start, naming the variable', () => {
    expect(configError({ SSE_PING_MS: '120000' }).message).toContain('SSE_PING_MS');
    expect(configError({ HTTP_IDLE_TIMEOUT_SECONDS: '10', SSE_PING_MS: '15000' }).message).toContain('HTTP_IDLE_TIMEOUT_SECONDS');
    expect(configError({ HTTP_IDLE_TIMEOUT_SECONDS: '256' }).message).toContain('HTTP_IDLE_TIMEOUT_SECONDS');
  });
});

describe('config: timers', () => {
  test('happy: the reply heartbeat and the websocket auth timeout default to 5 s and can be set', () => {
    expect(parseConfig({ DATA_DIR: tempDir() })).toMatchObject({ replyHeartbeatMs: 5_000, replyFlushMs: 300, wsAuthTimeoutMs: 5_000 });
    expect(parseConfig({ DATA_DIR: tempDir(), REPLY_HEARTBEAT_MS: '250', WS_AUTH_TIMEOUT_MS: '800' })).toMatchObject({
      replyHeartbeatMs: 250,
      wsAuthTimeoutMs: 800,
    });
  });

  test('error: a timer below 100 ms or not a number is refused, naming the variable', () => {
    expect(configError({ REPLY_HEARTBEAT_MS: '10' }).message).toContain('REPLY_HEARTBEAT_MS');
    expect(configError({ WS_AUTH_TIMEOUT_MS: 'soon' }).message).toContain('WS_AUTH_TIMEOUT_MS');
  });
});

describe('config: the schema declares every variable once', () => {
  const variables = Object.entries(EnvSchema.properties);

  test('happy: every variable has a description and a row in README.md', () => {
    const readme = readFileSync(join(import.meta.dir, '../../README.md'), 'utf8');
    expect(variables.length).toBeGreaterThan(50);
    for (const [name, schema] of variables) {
      expect(`${name}: ${typeof schema.description}`).toBe(`${name}: string`);
      expect(schema.description!.length).toBeGreaterThan(10);
      expect(readme.includes(`\`${name}\``) ? name : `${name} is not in README.md`).toBe(name);
    }
  });

  test('happy: with nothing set, the decoded environment is exactly the schema defaults, and fits the schema', () => {
    const decoded = decodeEnv(EnvSchema, {});
    expect(decoded).toEqual(Value.Default(EnvSchema, {}) as typeof decoded);
    expect(Value.Check(EnvSchema, decoded)).toBe(true);
    expect(decoded.OPENAI_MODELS).not.toBe(EnvSchema.properties.OPENAI_MODELS.default);
  });

  test('happy: every variable without a default is optional, and only those', () => {
    const required: readonly string[] = EnvSchema.required ?? [];
    for (const [name, schema] of variables) {
      expect(`${name}: ${schema.default === undefined}`).toBe(`${name}: ${!required.includes(name)}`);
    }
    expect(variables.filter(([, schema]) => schema.default === undefined).map(([name]) => name)).toEqual([
      'DATABASE_URL',
      'REDIS_URL',
      'JWT_SECRET',
      'ADMIN_API_KEY',
      'OPENAI_API_KEY',
      'OPENAI_BASE_URL',
      'ANTHROPIC_API_KEY',
      'ANTHROPIC_BASE_URL',
      'OLLAMA_BASE_URL',
      'DEFAULT_PROVIDER',
      'DEFAULT_MODEL',
      'S3_BUCKET',
      'S3_ENDPOINT',
      'S3_REGION',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'SPEECH_BASE_URL',
      'SPEECH_API_KEY',
      'SMTP_URL',
    ]);
    expect(new Set(variables.map(([, schema]) => schema[Kind]))).toEqual(
      new Set(['Union', 'Integer', 'String', 'Number', 'Boolean', 'Array']),
    );
  });
});

const MiB = 1024 * 1024;

describe('config: decoding', () => {
  test('happy: with nothing set: the contract defaults (SQLite, memory KV, echo), every field as before the schema', () => {
    const dataDir = tempDir();
    expect(parseConfig({ DATA_DIR: dataDir })).toEqual({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      dataDir,
      databaseUrl: undefined,
      redisUrl: undefined,
      redisKeyPrefix: 'parley:',
      jwtSecret: expect.any(String),
      jwtSecretGenerated: true,
      passwordHash: { memoryKib: 65_536, timeCost: 2 },
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 2_592_000,
      adminApiKey: undefined,
      openai: { apiKey: undefined, baseUrl: undefined },
      anthropic: { apiKey: undefined, baseUrl: undefined },
      ollama: { baseUrl: undefined },
      defaultProvider: 'echo',
      defaultModel: undefined,
      maxTokens: 1000,
      temperature: 0.7,
      corsOrigins: [],
      trustProxy: false,
      forceHttps: false,
      compressionMinBytes: 1024,
      rateLimit: {
        enabled: true,
        maxRequests: 100,
        windowMs: 900_000,
        authMax: 5,
        authWindowMs: 900_000,
        tiers: {
          guest: { perMinute: 5, perHour: 50, perDay: 250, tokensPerMonth: 100_000, concurrentReplies: 2, storageBytes: 20 * MiB },
          free: { perMinute: 10, perHour: 100, perDay: 500, tokensPerMonth: 1_000_000, concurrentReplies: 5, storageBytes: 100 * MiB },
          pro: { perMinute: 50, perHour: 500, perDay: 2500, tokensPerMonth: 10_000_000, concurrentReplies: 20, storageBytes: 1024 * MiB },
          enterprise: {
            perMinute: 200,
            perHour: 2000,
            perDay: 10_000,
            tokensPerMonth: 0,
            concurrentReplies: 100,
            storageBytes: 10_240 * MiB,
          },
        },
        searchPerMinute: 30,
        uploadsPerHour: 10,
      },
      maxFileSize: 10_485_760,
      maxFilesPerUpload: 10,
      s3: null,
      speech: null,
      smtpUrl: undefined,
      mailFrom: 'Parley <no-reply@localhost>',
      logLevel: 'info',
      shutdownGraceMs: 10_000,
      databaseCloseTimeoutMs: 5000,
      sqliteBackups: 3,
      llm: {
        firstTokenTimeoutMs: 30_000,
        idleTimeoutMs: 60_000,
        totalTimeoutMs: 300_000,
        maxRetries: 2,
        retryBaseMs: 250,
        fallbacks: [],
        models: {
          openai: ['gpt-5.5', 'gpt-5.4-mini'],
          anthropic: ['claude-sonnet-5-5', 'claude-opus-5-5', 'claude-haiku-5-5'],
          ollama: [],
        },
        visionModels: {
          openai: ['gpt-4o*', 'gpt-4.1*', 'gpt-4-turbo*', 'gpt-5*', 'o1', 'o1-2*', 'o3', 'o3-2*', 'o3-pro*', 'o4-mini*', 'chatgpt-4o*'],
          anthropic: ['claude-3*', 'claude-opus-*', 'claude-sonnet-*', 'claude-haiku-*'],
          ollama: [
            'llava*',
            'bakllava*',
            'llama3.2-vision*',
            'llama4*',
            'qwen2.5vl*',
            'qwen3-vl*',
            'minicpm-v*',
            'moondream*',
            'granite3.2-vision*',
            'mistral-small3.1*',
          ],
        },
        echoDelayMs: 20,
        maxConnections: 10_000,
        contextTokenBudget: 8000,
      },
      streamTtlSeconds: 3600,
      idempotencyTtlSeconds: 86_400,
      responsesTtlSeconds: 2_592_000,
      ssePingMs: 15_000,
      httpIdleTimeoutSeconds: 120,
      replyHeartbeatMs: 5000,
      replyFlushMs: 300,
      replySweepMs: 10_000,
      wsAuthTimeoutMs: 5000,
      revocationRecheckMs: 30_000,
      housekeepingIntervalMs: 3_600_000,
      streamMaxEvents: 10_000,
      streamMaxBytes: 5_242_880,
      transcriptCacheTtlSeconds: { guest: 60, free: 300, pro: 3600, enterprise: 3600 },
      pipelines: { concurrency: 4, stepTimeoutMs: 300_000, stepRetries: 2, retryBaseMs: 1000, stallMs: 30_000 },
    });
  });

  test('happy: empty or blank values count as unset; values are trimmed', () => {
    const config = parseConfig({
      DATA_DIR: tempDir(),
      PORT: '',
      HOST: ' 127.0.0.1 ',
      LOG_LEVEL: '   ',
      OPENAI_MODELS: ' , ',
      TRUST_PROXY: '',
    });
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', logLevel: 'info', trustProxy: false });
    expect(config.llm.models.openai).toEqual(['gpt-5.5', 'gpt-5.4-mini']);
  });

  test('happy: booleans, URLs, lists, durations and fallbacks', () => {
    const config = parseConfig({
      DATA_DIR: tempDir(),
      TRUST_PROXY: 'YES',
      RATE_LIMIT_ENABLED: 'Off',
      OLLAMA_BASE_URL: 'http://ollama:11434//',
      DATABASE_URL: 'postgresql://db/parley/',
      OLLAMA_MODELS: ' llama3 , qwen/ ,,',
      ANTHROPIC_MODELS: 'claude-x',
      OLLAMA_VISION_MODELS: ' llava* , my-vision:7b ',
      ACCESS_TOKEN_TTL: '1500ms',
      REFRESH_TOKEN_TTL: '90',
      LLM_FALLBACKS: 'ollama:llama3:8b, echo:echo-1',
    });
    expect(config).toMatchObject({
      trustProxy: true,
      databaseUrl: 'postgresql://db/parley',
      accessTokenTtlSeconds: 1,
      refreshTokenTtlSeconds: 90,
    });
    expect(config.rateLimit.enabled).toBe(false);
    expect(config.ollama.baseUrl).toBe('http://ollama:11434');
    expect(config.defaultProvider).toBe('ollama');
    expect(config.llm.models).toEqual({ openai: ['gpt-5.5', 'gpt-5.4-mini'], anthropic: ['claude-x'], ollama: ['llama3', 'qwen'] });
    expect(config.llm.visionModels.ollama).toEqual(['llava*', 'my-vision:7b']);
    expect(config.llm.fallbacks).toEqual([
      { provider: 'ollama', model: 'llama3:8b' },
      { provider: 'echo', model: 'echo-1' },
    ]);
    expect(Object.isFrozen(config.llm.models.openai)).toBe(true);
    expect(Object.isFrozen(EnvSchema.properties.OPENAI_MODELS.default)).toBe(false);
  });

  test.each([
    ['int', { PORT: 'abc' }, 'PORT: expected a whole number, got "abc"'],
    ['int', { PORT: '1.5' }, 'PORT: expected a whole number, got "1.5"'],
    ['int', { PORT: '70000' }, 'PORT: expected 0 to 65535, got 70000'],
    ['int', { MAX_FILE_SIZE: '0' }, 'MAX_FILE_SIZE: expected 1 or more, got 0'],
    ['number', { TEMPERATURE: '3' }, 'TEMPERATURE: expected a number from 0 to 2, got "3"'],
    ['number', { TEMPERATURE: 'Infinity' }, 'TEMPERATURE: expected a number from 0 to 2, got "Infinity"'],
    ['boolean', { TRUST_PROXY: 'Nah' }, 'TRUST_PROXY: expected true or false, got "nah"'],
    ['enum', { LOG_LEVEL: 'DEBUG' }, 'LOG_LEVEL: expected one of debug, info, warn, error, silent, got "DEBUG"'],
    ['enum', { NODE_ENV: 'staging' }, 'NODE_ENV: expected one of development, production, test, got "staging"'],
    ['url', { REDIS_URL: 'not a url' }, 'REDIS_URL: is not a valid URL'],
    ['url', { DATABASE_URL: 'mysql://x/y' }, 'DATABASE_URL: expected a postgres:// or postgresql:// URL'],
    ['url', { OPENAI_BASE_URL: 'ftp://x' }, 'OPENAI_BASE_URL: expected a http:// or https:// URL'],
    [
      'list',
      { CORS_ORIGINS: 'https://a.example.com,not-an-origin' },
      'CORS_ORIGINS: "not-an-origin" is not an origin such as https://app.example.com',
    ],
    ['list', { LLM_FALLBACKS: 'echo' }, 'LLM_FALLBACKS: "echo" is not provider:model with a configured provider'],
    ['list', { LLM_FALLBACKS: 'openai:gpt-4o' }, 'LLM_FALLBACKS: "openai:gpt-4o" is not provider:model with a configured provider'],
    [
      'duration',
      { ACCESS_TOKEN_TTL: '15 minutes' },
      'ACCESS_TOKEN_TTL: expected a duration such as 15m, 30d or 900 (seconds), got "15 minutes"',
    ],
    ['duration', { REFRESH_TOKEN_TTL: '500ms' }, 'REFRESH_TOKEN_TTL: must be at least one second, got "500ms"'],
  ])('error: a wrong %s value is refused with the same line as before, naming its variable', (_kind, env, message) => {
    const error = configError(env as Record<string, string>);
    expect(error.message).toBe(message);
    expect(error.variable).toBe(message.slice(0, message.indexOf(':')));
  });

  test('error: a bad value is refused before the JWT secret is generated in DATA_DIR', () => {
    const dataDir = tempDir();
    expect(() => parseConfig({ DATA_DIR: dataDir, PORT: 'abc' })).toThrow(ConfigError);
    expect(existsSync(join(dataDir, 'jwt-secret'))).toBe(false);
  });
});
