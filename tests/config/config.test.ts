import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/config/index.ts';

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
  test('with nothing set: the contract defaults, SQLite, memory KV, echo', () => {
    const dataDir = tempDir();
    const config = parseConfig({ DATA_DIR: dataDir });
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      host: '0.0.0.0',
      dataDir,
      databaseUrl: undefined,
      redisUrl: undefined,
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 30 * 86400,
      defaultProvider: 'echo',
      maxTokens: 1000,
      temperature: 0.7,
      corsOrigins: [],
      trustProxy: false,
      maxFileSize: 10_485_760,
      logLevel: 'info',
      jwtSecretGenerated: true,
    });
    expect(config.rateLimit).toEqual({
      enabled: true,
      maxRequests: 100,
      windowMs: 900_000,
      authMax: 5,
      authWindowMs: 900_000,
      llmPerMinute: 10,
      llmPerHour: 100,
      llmPerDay: 500,
    });
  });

  test('DATA_DIR defaults to ./data', () => {
    const cwd = process.cwd();
    const dir = tempDir();
    process.chdir(dir);
    try {
      expect(parseConfig({}).dataDir).toBe(join(dir, 'data'));
    } finally {
      process.chdir(cwd);
    }
  });

  test('the generated JWT secret is kept in DATA_DIR with mode 0600 and reused', () => {
    const dataDir = tempDir();
    const first = parseConfig({ DATA_DIR: dataDir });
    const file = join(dataDir, 'jwt-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.jwtSecret);
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(parseConfig({ DATA_DIR: dataDir }).jwtSecret).toBe(first.jwtSecret);
  });

  test('a given JWT_SECRET is used and nothing is written', () => {
    const dataDir = tempDir();
    const config = parseConfig({ DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(40) });
    expect(config.jwtSecret).toBe('x'.repeat(40));
    expect(config.jwtSecretGenerated).toBe(false);
  });

  test('values are parsed and the object is frozen, deeply', () => {
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
  ])('a bad %s is refused with one line naming it', (variable, env) => {
    const error = configError(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  test('production refuses to start without a strong JWT_SECRET', () => {
    expect(configError({ NODE_ENV: 'production' }).variable).toBe('JWT_SECRET');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 'short' }).variable).toBe('JWT_SECRET');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), ADMIN_API_KEY: 'weak' }).variable).toBe('ADMIN_API_KEY');
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), CORS_ORIGINS: '*' }).variable).toBe('CORS_ORIGINS');
    expect(parseConfig({ DATA_DIR: tempDir(), NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }).nodeEnv).toBe('production');
  });

  test('the message never echoes a secret value', () => {
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
