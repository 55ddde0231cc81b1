import { type SchemaOptions, type Static, Type as T } from '@sinclair/typebox';
import { logLevels, providerWords } from './vocabulary.ts';

// The environment contract, declared once: one property per variable with its type, default, range
// and meaning. decodeEnv (parse.ts) reads the raw strings by it; parseConfig (index.ts) builds the
// Config the app uses from the decoded, typed result. README's configuration table documents the same.

const nodeEnvs = ['development', 'production', 'test'] as const;
const httpProtocols = ['http:', 'https:'];

/** One of `values`, exactly as written. */
const oneOf = <const V extends string>(values: readonly V[], options: SchemaOptions) =>
  T.Union(
    values.map((value) => T.Literal(value)),
    options,
  );
/** Free text, unset unless given. */
const text = (description: string) => T.Optional(T.String({ description }));
/** A URL with one of `protocols` (spelt as URL#protocol, e.g. 'https:'), trailing slashes removed; unset unless given. */
const url = (protocols: readonly string[], description: string) => T.Optional(T.String({ protocols, description }));
/** Comma-separated items, trimmed, trailing slashes removed, empty ones dropped; a list with no items counts as unset. */
const list = (description: string, fallback: readonly string[] = []) => T.Array(T.String(), { default: fallback, description });
/** Whole seconds, given as a duration such as 900 (seconds), 1500ms, 90s, 15m, 2h or 30d; at least one second. */
const duration = (seconds: number, description: string) => T.Integer({ format: 'duration', minimum: 1, default: seconds, description });

export const EnvSchema = T.Object({
  NODE_ENV: oneOf(nodeEnvs, {
    default: 'development',
    description: 'production requires a strong JWT_SECRET and refuses weak settings (short ADMIN_API_KEY, CORS_ORIGINS=*).',
  }),
  PORT: T.Integer({ minimum: 0, maximum: 65535, default: 3000, description: 'Port to listen on; 0 picks a free port.' }),
  HOST: T.String({ default: '0.0.0.0', description: 'Address to listen on.' }),
  DATA_DIR: T.String({
    default: './data',
    description:
      'Directory of the SQLite database, the generated JWT secret and uploaded files (files/, unless S3_BUCKET is set), resolved against the working directory.',
  }),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'A postgres:// URL selects PostgreSQL; unset, SQLite in DATA_DIR is used.'),
  REDIS_URL: url(
    ['redis:', 'rediss:'],
    'Redis for sessions, the token blacklist, rate limits, cache, pub/sub and streams; unset, all are kept in memory.',
  ),
  REDIS_KEY_PREFIX: T.String({ default: 'parley:', description: 'Namespace of every Redis key and channel.' }),
  JWT_SECRET: text('Secret that signs tokens (32+ characters in production); unset, one is generated and kept in DATA_DIR.'),
  PASSWORD_HASH_MEMORY_KIB: T.Integer({
    minimum: 64,
    maximum: 4_194_304,
    default: 65_536,
    description: 'argon2id memory cost of a password hash, in KiB (production: at least 19456, OWASP Password Storage Cheat Sheet).',
  }),
  PASSWORD_HASH_TIME_COST: T.Integer({
    minimum: 1,
    maximum: 20,
    default: 2,
    description: 'argon2id passes over that memory (production: at least 2). Stored hashes keep their own cost and still verify.',
  }),
  ACCESS_TOKEN_TTL: duration(15 * 60, 'Lifetime of an access token (default 15m).'),
  REFRESH_TOKEN_TTL: duration(30 * 86_400, 'Lifetime of a refresh token (default 30d).'),
  ADMIN_API_KEY: text('An X-Admin-Key header with this value grants admin (24+ characters in production).'),
  OPENAI_API_KEY: text('API key of OpenAI or an OpenAI-compatible server.'),
  OPENAI_BASE_URL: url(httpProtocols, 'Base URL of an OpenAI-compatible server; enough on its own to configure the provider.'),
  ANTHROPIC_API_KEY: text('API key of Anthropic; configures the provider.'),
  ANTHROPIC_BASE_URL: url(httpProtocols, 'Base URL of the Anthropic API, if not the default.'),
  OLLAMA_BASE_URL: url(httpProtocols, 'Base URL of a local Ollama server; configures the provider.'),
  DEFAULT_PROVIDER: T.Optional(
    oneOf(providerWords, {
      description:
        'Provider used when a request names none; it must be configured. Unset, the first configured one. `claude` is another name for anthropic.',
    }),
  ),
  DEFAULT_MODEL: text('Model of DEFAULT_PROVIDER used when a request names none; unset, the first model listed for it.'),
  MAX_TOKENS: T.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: 'Default limit of tokens generated per reply.' }),
  TEMPERATURE: T.Number({ minimum: 0, maximum: 2, default: 0.7, description: 'Default sampling temperature.' }),
  CORS_ORIGINS: list('Origins allowed cross-origin, such as https://app.example.com, or *; unset, same-origin only.'),
  TRUST_PROXY: T.Boolean({
    default: false,
    description: 'Believe X-Forwarded-For and Fly-Client-IP for the client address, and X-Forwarded-Proto for whether it came over HTTPS.',
  }),
  FORCE_HTTPS: T.Boolean({
    default: false,
    description:
      'Answer requests that came over plain HTTP (by X-Forwarded-Proto; needs TRUST_PROXY) with 308 to the same https URL; /health is exempt for probes.',
  }),
  COMPRESSION_MIN_BYTES: T.Integer({
    minimum: 0,
    maximum: 1_073_741_824,
    default: 1024,
    description:
      'JSON, the OpenAPI document and the docs assets at least this large are sent gzip or brotli when the client accepts it, in bytes.',
  }),
  RATE_LIMIT_ENABLED: T.Boolean({ default: true, description: 'Whether requests are rate limited at all.' }),
  RATE_LIMIT_MAX_REQUESTS: T.Integer({ minimum: 1, default: 100, description: 'General API requests per IP per window.' }),
  RATE_LIMIT_WINDOW_MS: T.Integer({ minimum: 1000, default: 900_000, description: 'Window of the general API limit, in ms.' }),
  AUTH_RATE_LIMIT_MAX: T.Integer({
    minimum: 1,
    default: 5,
    description: 'Login, register, forgot and reset password requests per IP per window.',
  }),
  AUTH_RATE_LIMIT_WINDOW_MS: T.Integer({ minimum: 1000, default: 900_000, description: 'Window of the auth limit, in ms.' }),
  RATELIMIT_PER_MINUTE: T.Integer({
    minimum: 1,
    default: 10,
    description: 'LLM calls per minute of the free tier (default of TIER_LIMITS_FREE minute=).',
  }),
  RATELIMIT_PER_HOUR: T.Integer({
    minimum: 1,
    default: 100,
    description: 'LLM calls per hour of the free tier (default of TIER_LIMITS_FREE hour=).',
  }),
  RATELIMIT_PER_DAY: T.Integer({
    minimum: 1,
    default: 500,
    description: 'LLM calls per day of the free tier (default of TIER_LIMITS_FREE day=).',
  }),
  TIER_LIMITS_GUEST: T.String({
    default: '',
    description:
      "Guests' limits as minute=N,hour=N,day=N,tokens=N (LLM calls per IP per window; tokens: input + output per calendar month, UTC); 0 = unlimited; keys left out keep their default (half of free's windows, tokens=100000).",
  }),
  TIER_LIMITS_FREE: T.String({
    default: '',
    description:
      "Free tier's limits, same form as TIER_LIMITS_GUEST; keys left out default to RATELIMIT_PER_MINUTE/HOUR/DAY and tokens=1000000.",
  }),
  TIER_LIMITS_PRO: T.String({
    default: '',
    description: "Pro tier's limits, same form as TIER_LIMITS_GUEST; keys left out default to 5 times free's windows and tokens=10000000.",
  }),
  TIER_LIMITS_ENTERPRISE: T.String({
    default: '',
    description:
      "Enterprise tier's limits, same form as TIER_LIMITS_GUEST; keys left out default to 20 times free's windows and tokens=0 (unlimited).",
  }),
  SEARCH_RATE_LIMIT_PER_MINUTE: T.Integer({
    minimum: 1,
    default: 30,
    description: 'Chat searches per user (guests per IP) per minute, on top of the general limit.',
  }),
  UPLOAD_RATE_LIMIT_PER_HOUR: T.Integer({
    minimum: 1,
    default: 10,
    description: 'Upload requests per user (guests per IP) per hour, on top of the general limit.',
  }),
  MAX_FILE_SIZE: T.Integer({
    minimum: 1,
    default: 10_485_760,
    description: 'Bytes per uploaded file; a file over it is refused (413) as soon as it passes it.',
  }),
  MAX_FILES_PER_UPLOAD: T.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Files per POST /files/upload-multiple.' }),
  S3_BUCKET: text('S3-compatible bucket for uploaded files (S3, R2, MinIO); unset, files go to DATA_DIR/files.'),
  S3_ENDPOINT: url(httpProtocols, "The S3 server's URL (R2, MinIO, a self-hosted S3); unset, AWS's for S3_REGION."),
  S3_REGION: text('The bucket’s region; unset, us-east-1.'),
  S3_ACCESS_KEY_ID: text('S3 access key id; unset, taken from the usual AWS environment variables.'),
  S3_SECRET_ACCESS_KEY: text('S3 secret access key; unset, taken from the usual AWS environment variables.'),
  SPEECH_BASE_URL: url(
    httpProtocols,
    'Any OpenAI-compatible speech server (transcription, synthesis); unset, OpenAI’s when OPENAI_API_KEY is set.',
  ),
  SPEECH_API_KEY: text('Key of the speech server at SPEECH_BASE_URL, if it needs one.'),
  SPEECH_TRANSCRIBE_MODEL: T.String({ default: 'whisper-1', description: 'Speech-to-text model asked for by POST /voice/transcribe.' }),
  SPEECH_SYNTHESIZE_MODEL: T.String({ default: 'tts-1', description: 'Text-to-speech model asked for by POST /voice/synthesize.' }),
  SPEECH_VOICES: list('Voices offered by GET /voice/voices and accepted by synthesis.', [
    'alloy',
    'ash',
    'coral',
    'echo',
    'fable',
    'nova',
    'onyx',
    'sage',
    'shimmer',
  ]),
  MAX_AUDIO_SECONDS: T.Integer({ minimum: 1, default: 600, description: 'Longest audio accepted for transcription, read from the file.' }),
  SMTP_URL: url(['smtp:', 'smtps:'], 'Mail server for password reset and email verification; unset, mail is logged.'),
  MAIL_FROM: T.String({ default: 'Parley <no-reply@localhost>', description: 'Sender of the mail Parley sends.' }),
  LOG_LEVEL: oneOf(logLevels, { default: 'info', description: 'Least severe level logged, as JSON lines on stdout.' }),
  SHUTDOWN_GRACE_MS: T.Integer({
    minimum: 0,
    maximum: 600_000,
    default: 10_000,
    description: 'How long a graceful shutdown waits for requests and streams to finish, in ms.',
  }),
  DATABASE_CLOSE_TIMEOUT_MS: T.Integer({
    minimum: 0,
    maximum: 600_000,
    default: 5_000,
    description:
      'How long closing PostgreSQL (the last step of a shutdown) waits for the queries its connections still hold before it drops them, in ms.',
  }),
  // Defaults: current models with no announced shutdown (the openai and @anthropic-ai/sdk packages
  // list deprecations; claude-sonnet-4-5 reached its end of life on 2026-11-30). The first is the
  // provider's default model.
  OPENAI_MODELS: list('Models listed for OpenAI when upstream cannot list its own; the first is its default model.', [
    'gpt-5.5',
    'gpt-5.4-mini',
  ]),
  ANTHROPIC_MODELS: list(
    'Models listed for Anthropic when upstream cannot list its own (while it can, an alias here is listed beside the id upstream lists for it, and dropped when upstream lists none); the first is its default model.',
    ['claude-sonnet-5-5', 'claude-opus-5-5', 'claude-haiku-5-5'],
  ),
  OLLAMA_MODELS: list('Models listed for Ollama when it cannot list its own.'),
  OPENAI_VISION_MODELS: list(
    'Models of the openai provider that take images, as globs (`*` any characters, case-insensitive); images to any other are refused (422).',
    ['gpt-4o*', 'gpt-4.1*', 'gpt-4-turbo*', 'gpt-5*', 'o1', 'o1-2*', 'o3', 'o3-2*', 'o3-pro*', 'o4-mini*', 'chatgpt-4o*'],
  ),
  ANTHROPIC_VISION_MODELS: list('Models of the anthropic provider that take images, as globs (see OPENAI_VISION_MODELS).', [
    'claude-3*',
    'claude-opus-*',
    'claude-sonnet-*',
    'claude-haiku-*',
  ]),
  OLLAMA_VISION_MODELS: list(
    'Models of the ollama provider that take images, as globs (see OPENAI_VISION_MODELS); `name` and `name:latest` match alike.',
    [
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
  ),
  LLM_FIRST_TOKEN_TIMEOUT_MS: T.Integer({
    minimum: 100,
    default: 30_000,
    description: 'Give up on an upstream silent this long before its first token, in ms.',
  }),
  LLM_IDLE_TIMEOUT_MS: T.Integer({
    minimum: 100,
    default: 60_000,
    description: 'Give up on an upstream silent this long between two tokens once its reply has started, in ms.',
  }),
  LLM_TOTAL_TIMEOUT_MS: T.Integer({
    minimum: 1000,
    default: 300_000,
    description: 'Give up on an upstream reply taking longer in all, in ms.',
  }),
  LLM_MAX_RETRIES: T.Integer({
    minimum: 0,
    maximum: 10,
    default: 2,
    description: 'Retries of 429, 5xx and network failures, only while nothing was streamed yet.',
  }),
  LLM_RETRY_BASE_MS: T.Integer({ minimum: 0, maximum: 60_000, default: 250, description: 'First retry delay, doubled each retry, in ms.' }),
  LLM_FALLBACKS: list(
    'provider:model pairs tried in order after the requested provider/model fails before streaming (`claude` names anthropic).',
  ),
  ECHO_DELAY_MS: T.Integer({
    minimum: 0,
    maximum: 10_000,
    default: 20,
    description: 'Pause between the words the built-in echo provider streams, in ms.',
  }),
  CONTEXT_TOKEN_BUDGET: T.Integer({
    minimum: 100,
    default: 8000,
    description: 'Approximate tokens of history sent upstream; older turns are dropped first.',
  }),
  STREAM_TTL_SECONDS: T.Integer({
    minimum: 10,
    maximum: 7 * 86_400,
    default: 3600,
    description: "How long a stream's events stay replayable after its last event, in seconds.",
  }),
  IDEMPOTENCY_TTL_SECONDS: T.Integer({
    minimum: 1,
    maximum: 30 * 86_400,
    default: 86_400,
    description:
      'How long an Idempotency-Key is remembered: a repeat of the POST within this time gets the first result (a streamed reply resumed), on any instance.',
  }),
  RESPONSES_TTL_SECONDS: T.Integer({
    minimum: 1,
    maximum: 365 * 86_400,
    default: 30 * 86_400,
    description:
      'How long a response stored by POST /v1/responses (store, the default) stays retrievable and continuable with previous_response_id, in seconds; housekeeping removes it after.',
  }),
  HTTP_IDLE_TIMEOUT_SECONDS: T.Integer({
    minimum: 5,
    maximum: 255,
    default: 120,
    description: "Bun's server closes a connection silent for longer than this, in seconds (Bun allows at most 255).",
  }),
  SSE_PING_MS: T.Integer({
    minimum: 100,
    maximum: 254_000,
    default: 15_000,
    description:
      'Quiet time after which a stream reader gets a `: ping` (and the producer is checked), in ms; must stay below HTTP_IDLE_TIMEOUT_SECONDS less one second.',
  }),
  REPLY_HEARTBEAT_MS: T.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 5_000,
    description: 'How often a running reply refreshes its heartbeat, in ms; readers call it interrupted after three missed.',
  }),
  REPLY_SWEEP_MS: T.Integer({
    minimum: 100,
    maximum: 600_000,
    default: 10_000,
    description:
      'How often every instance looks for replies left `streaming` by a producer that is gone (three missed REPLY_HEARTBEAT_MS) and settles them as interrupted with the text their stream holds, in ms.',
  }),
  REPLY_FLUSH_MS: T.Integer({
    minimum: 20,
    maximum: 60_000,
    default: 300,
    description: "How often a streaming reply's text so far is written to its message row, in ms.",
  }),
  WS_AUTH_TIMEOUT_MS: T.Integer({
    minimum: 100,
    maximum: 60_000,
    default: 5_000,
    description: 'How long a websocket opened without a token may wait before its auth frame, in ms.',
  }),
  REVOCATION_RECHECK_MS: T.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 30_000,
    description:
      "How often every instance checks its live connections' credentials (websockets, SSE readers) against the database and ends those revoked, expired or of a disabled user, in ms: the bound on a revocation lost on pub/sub (one query per kind for all of them; also done at once when the KV subscription comes back).",
  }),
  LLM_MAX_CONNECTIONS: T.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 10_000,
    description: 'Upstream connections the provider clients may hold open at once (per origin).',
  }),
  HOUSEKEEPING_INTERVAL_MS: T.Integer({
    minimum: 100,
    maximum: 7 * 86_400_000,
    default: 3_600_000,
    description:
      'How often expired sessions, refresh tokens and mailed one-time tokens are deleted, in ms: once per period across all instances (a KV lock per task and period).',
  }),
  SQLITE_BACKUPS: T.Integer({
    minimum: 0,
    maximum: 1000,
    default: 3,
    description:
      'How many dated backups of the SQLite database to keep beside it (DATA_DIR/parley.db.<UTC time>.bak, written with VACUUM INTO before pending migrations are applied to a database that has data); 0 takes none.',
  }),
  STREAM_MAX_EVENTS: T.Integer({ minimum: 1, default: 10_000, description: 'Most events a generic stream (POST /streams) may hold.' }),
  STREAM_MAX_BYTES: T.Integer({
    minimum: 1024,
    default: 5 * 1024 * 1024,
    description: 'Most bytes of event data a generic stream (POST /streams) may hold in all.',
  }),
  TRANSCRIPT_CACHE_TTL: T.String({
    default: '',
    description:
      'How long a transcript read (GET /transcripts/:id) stays cached, by the reader’s tier, as guest=S,free=S,pro=S,enterprise=S (seconds, any subset; 0 = not cached); keys left out keep guest=60, free=300, pro=3600, enterprise=3600. Changes drop it on every instance at once.',
  }),
  PIPELINE_CONCURRENCY: T.Integer({
    minimum: 1,
    maximum: 1000,
    default: 4,
    description:
      'Pipeline executions one instance runs at once (its share of the job queue); the steps of each run in parallel where they can.',
  }),
  PIPELINE_STEP_TIMEOUT_MS: T.Integer({
    minimum: 100,
    maximum: 3_600_000,
    default: 300_000,
    description: "A pipeline step's time limit when its definition sets none (timeoutMs), per attempt, in ms.",
  }),
  PIPELINE_STEP_RETRIES: T.Integer({
    minimum: 0,
    maximum: 10,
    default: 2,
    description: 'Retries of a failed pipeline step (an upstream error, a timeout, an outage) when its definition sets none (retries).',
  }),
  PIPELINE_RETRY_BASE_MS: T.Integer({
    minimum: 0,
    maximum: 600_000,
    default: 1000,
    description: "Wait before a pipeline step's first retry, doubled for each further one, in ms.",
  }),
  PIPELINE_STALL_MS: T.Integer({
    minimum: 500,
    maximum: 3_600_000,
    default: 30_000,
    description:
      'With REDIS_URL: the lock an instance holds on an execution it runs (renewed at half this); once it lapses (the instance died), another instance takes the execution over within about this long again, in ms.',
  }),
});

/** The environment decoded by EnvSchema: defaults filled in, numbers, booleans, lists and seconds typed. */
export type DecodedEnv = Static<typeof EnvSchema>;
