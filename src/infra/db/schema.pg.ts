// Postgres mirror of schema.sqlite.ts: same tables, columns and indexes (tests/db/schema-parity.test.ts checks).
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { credentialKinds, messageRoles, messageStatuses, roles, tiers } from '../../config/vocabulary.ts';
import type { ToolCall, ToolChoice, ToolDefinition, ToolResult } from '../llm/types.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });
const createdAt = () => at('created_at').notNull().defaultNow();
const updatedAt = () => at('updated_at').notNull().defaultNow();

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email'),
    name: text('name'),
    passwordHash: text('password_hash'),
    role: text('role', { enum: roles }).notNull().default('user'),
    tier: text('tier', { enum: tiers }).notNull().default('free'),
    emailVerified: boolean('email_verified').notNull().default(false),
    avatarUrl: text('avatar_url'),
    preferences: jsonb('preferences').$type<Record<string, unknown>>().notNull().default({}),
    disabled: boolean('disabled').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (table) => [uniqueIndex('users_email_unique').on(table.email), index('users_created_at_idx').on(table.createdAt)],
);

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    userAgent: text('user_agent'),
    ip: text('ip'),
    createdAt: createdAt(),
    lastSeenAt: at('last_seen_at').notNull(),
    expiresAt: at('expires_at').notNull(),
    revokedAt: at('revoked_at'),
  },
  (table) => [index('sessions_user_idx').on(table.userId)],
);

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: at('expires_at').notNull(),
    usedAt: at('used_at'),
  },
  (table) => [index('refresh_tokens_session_idx').on(table.sessionId)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    createdAt: createdAt(),
    expiresAt: at('expires_at'),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
    allowedModels: jsonb('allowed_models').$type<string[]>(),
    requestsPerMinute: integer('requests_per_minute'),
    tokensPerMinute: integer('tokens_per_minute'),
    monthlyTokenBudget: bigint('monthly_token_budget', { mode: 'number' }),
  },
  (table) => [uniqueIndex('api_keys_hash_unique').on(table.keyHash), index('api_keys_user_idx').on(table.userId)],
);

export const apiKeyUsage = pgTable(
  'api_key_usage',
  {
    apiKeyId: text('api_key_id')
      .notNull()
      .references(() => apiKeys.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    requests: integer('requests').notNull().default(0),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.apiKeyId, table.day, table.provider, table.model] })],
);

export const chats = pgTable(
  'chats',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title'),
    provider: text('provider'),
    model: text('model'),
    systemPrompt: text('system_prompt'),
    category: text('category'),
    pinned: boolean('pinned').notNull().default(false),
    archived: boolean('archived').notNull().default(false),
    featured: boolean('featured').notNull().default(false),
    // chat-tools: the functions the chat's model may call, and whether it must (null: none; `auto`).
    tools: jsonb('tools').$type<ToolDefinition[]>(),
    toolChoice: jsonb('tool_choice').$type<ToolChoice>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  // The list's order (pinned, then latest, then id) read straight off the index: no sort.
  (table) => [
    index('chats_user_list_idx').on(table.userId, table.archived, table.pinned, table.updatedAt, table.id),
    index('chats_featured_idx').on(table.featured, table.id),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: text('id').primaryKey(),
    chatId: text('chat_id')
      .notNull()
      .references(() => chats.id, { onDelete: 'cascade' }),
    // The conversation is a tree of turns: a user message's parent is the user message of the
    // turn before (null for the first), a reply's parent is its user message. Siblings share a
    // parent and a role: regenerated replies, or edited user messages. chat-tools: a `tool`
    // message's parent is the reply whose calls it answers, and it is the parent of the replies to it.
    parentId: text('parent_id'),
    /** Chosen among its siblings; the active path follows the chosen ones from the root. */
    selected: boolean('selected').notNull().default(true),
    /** On the active path (selected, and every ancestor selected): what reads, history, search and stats use. */
    active: boolean('active').notNull().default(true),
    /** The order along a path: a user message's id, or `<user message id>:<id>` for a reply or a tool message (chat-tools), so it sorts inside its turn. */
    sortKey: text('sort_key').notNull().default(''),
    role: text('role', { enum: messageRoles }).notNull(),
    content: text('content').notNull().default(''),
    status: text('status', { enum: messageStatuses }).notNull().default('complete'),
    provider: text('provider'),
    model: text('model'),
    finishReason: text('finish_reason'),
    /** A model's thinking, where the provider streams it: kept apart from the reply and never sent back upstream. */
    reasoning: text('reasoning'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    attachments: jsonb('attachments').$type<string[]>().notNull().default([]),
    // chat-tools: an assistant message's tool calls (null: it called none); a `tool` message's results, in its calls' order.
    toolCalls: jsonb('tool_calls').$type<ToolCall[]>(),
    toolResults: jsonb('tool_results').$type<ToolResult[]>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  // The tree of a chat is read by chat in id order (UUIDv7: creation order); its active path in sort-key order.
  (table) => [
    index('messages_chat_id_idx').on(table.chatId, table.id),
    index('messages_active_path_idx').on(table.chatId, table.active, table.sortKey),
    index('messages_status_idx').on(table.status),
  ],
);

export const usageRecords = pgTable(
  'usage_records',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    requests: integer('requests').notNull().default(0),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.day, table.provider, table.model] }),
    index('usage_records_day_idx').on(table.day),
  ],
);

export const oneTimeTokens = pgTable(
  'one_time_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose', { enum: ['reset_password', 'verify_email'] }).notNull(),
    /** The address the token was mailed to: it proves that address, and no other. */
    email: text('email'),
    createdAt: createdAt(),
    expiresAt: at('expires_at').notNull(),
    usedAt: at('used_at'),
  },
  (table) => [index('one_time_tokens_user_idx').on(table.userId)],
);

// Uploaded files: the row is written once the blob is whole in storage; a blob without a row is
// an interrupted upload, swept by housekeeping. The name is for display only: storage keys are ids.
export const files = pgTable(
  'files',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** Detected from the content (file-type), else the declared type when it is text. */
    contentType: text('content_type').notNull(),
    /** Bytes. */
    size: bigint('size', { mode: 'number' }).notNull(),
    /** Hex sha256 of the content. */
    sha256: text('sha256').notNull(),
    storageKey: text('storage_key').notNull(),
    createdAt: createdAt(),
  },
  // The owner's list, newest first, read off the index; quotas sum sizes by user.
  (table) => [index('files_user_idx').on(table.userId, table.id), uniqueIndex('files_storage_key_idx').on(table.storageKey)],
);

// Which messages carry which files: a file in use cannot be deleted (checked at the end of the statement, so a user's cascade still goes), and a message keeps its files.
export const messageAttachments = pgTable(
  'message_attachments',
  {
    messageId: text('message_id')
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'no action' }),
    position: integer('position').notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.messageId, table.fileId] }), index('message_attachments_file_idx').on(table.fileId)],
);

// Speech per user and day: seconds transcribed (as milliseconds) and characters synthesised.
export const voiceUsage = pgTable(
  'voice_usage',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    transcriptions: integer('transcriptions').notNull().default(0),
    transcribedMs: bigint('transcribed_ms', { mode: 'number' }).notNull().default(0),
    syntheses: integer('syntheses').notNull().default(0),
    synthesizedChars: bigint('synthesized_chars', { mode: 'number' }).notNull().default(0),
  },
  (table) => [primaryKey({ columns: [table.userId, table.day] })],
);

// ---- Transcripts (issue 14) -------------------------------------------------------------------
// A transcript is a frozen copy of one path through a chat: its own rows, so later edits to the
// chat (or deleting it) change nothing here. chat_id names where it came from and has no foreign
// key on purpose: the transcript outlives its chat. Searched like chats (migration transcripts_search).
export const transcripts = pgTable(
  'transcripts',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    chatId: text('chat_id').notNull(),
    /** The message whose path was frozen; null for the chat's active path at the time. */
    branch: text('branch'),
    title: text('title').notNull(),
    notes: text('notes'),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    messageCount: integer('message_count').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  // The owner's list, newest first (UUIDv7 ids), read off the index.
  (table) => [index('transcripts_user_idx').on(table.userId, table.id)],
);

export const transcriptMessages = pgTable(
  'transcript_messages',
  {
    transcriptId: text('transcript_id')
      .notNull()
      .references(() => transcripts.id, { onDelete: 'cascade' }),
    /** 0-based place along the frozen path. */
    position: integer('position').notNull(),
    /** The chat message it was copied from (which may since have changed or gone). */
    messageId: text('message_id').notNull(),
    role: text('role', { enum: messageRoles }).notNull(),
    content: text('content').notNull().default(''),
    provider: text('provider'),
    model: text('model'),
    /** The names of the message's attached files, in their order, as they were then. */
    attachments: jsonb('attachments').$type<string[]>().notNull().default([]),
    /** When the original message was written. */
    createdAt: at('created_at').notNull(),
  },
  (table) => [primaryKey({ columns: [table.transcriptId, table.position] })],
);

// ---- Pipelines (issue 14) -------------------------------------------------------------------
// A definition keeps every version it had: an execution runs the version it was started with,
// whatever happens to the definition afterwards. Deleting a definition hides it (deleted_at);
// its executions stay readable. Step results are stored as they finish, so an execution taken
// over by another instance never runs a stored step again.

type PipelineStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
type PipelineStepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped';
type PipelineError = { code: string; message: string };

export const pipelines = pgTable(
  'pipelines',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    /** The latest version (pipeline_versions). */
    version: integer('version').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: at('deleted_at'),
  },
  (table) => [index('pipelines_user_idx').on(table.userId, table.id)],
);

export const pipelineVersions = pgTable(
  'pipeline_versions',
  {
    pipelineId: text('pipeline_id')
      .notNull()
      .references(() => pipelines.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    steps: jsonb('steps').$type<Record<string, unknown>[]>().notNull(),
    /** Template of the execution's output; null = the last step's output. */
    output: text('output'),
    createdAt: createdAt(),
  },
  (table) => [primaryKey({ columns: [table.pipelineId, table.version] })],
);

export const pipelineExecutions = pgTable(
  'pipeline_executions',
  {
    id: text('id').primaryKey(),
    pipelineId: text('pipeline_id')
      .notNull()
      .references(() => pipelines.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /**
     * The API key it was started with, if any: each run acts as that key (its allowed models,
     * limits and budget), and fails once the key is revoked or expired.
     */
    apiKeyId: text('api_key_id').references(() => apiKeys.id, { onDelete: 'cascade' }),
    status: text('status').$type<PipelineStatus>().notNull().default('queued'),
    input: jsonb('input').$type<Record<string, string>>().notNull(),
    output: text('output'),
    error: jsonb('error').$type<PipelineError>(),
    /** The stream buffer of its progress events. */
    streamId: text('stream_id').notNull(),
    /** The caller's address when it was started: guests' LLM limits count by it. */
    ip: text('ip').notNull(),
    createdAt: createdAt(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    updatedAt: updatedAt(),
  },
  (table) => [
    index('pipeline_executions_user_idx').on(table.userId, table.id),
    index('pipeline_executions_pipeline_idx').on(table.pipelineId, table.id),
    index('pipeline_executions_status_idx').on(table.status),
  ],
);

export const pipelineStepRuns = pgTable(
  'pipeline_step_runs',
  {
    executionId: text('execution_id')
      .notNull()
      .references(() => pipelineExecutions.id, { onDelete: 'cascade' }),
    stepId: text('step_id').notNull(),
    /** The step's place in its definition. */
    position: integer('position').notNull(),
    type: text('type').notNull(),
    status: text('status').$type<PipelineStepStatus>().notNull().default('pending'),
    /** Attempts started so far. */
    attempts: integer('attempts').notNull().default(0),
    output: text('output'),
    error: jsonb('error').$type<PipelineError>(),
    provider: text('provider'),
    model: text('model'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    /** The reply generating this LLM step right now: a cancel on any instance stops it through the reply engine. */
    messageId: text('message_id'),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    updatedAt: updatedAt(),
  },
  (table) => [primaryKey({ columns: [table.executionId, table.stepId] })],
);
// ---- end of pipelines ------------------------------------------------------------------------

// ---- Admin audit log (issue 14, adminops) -------------------------------------------------------
// One row per admin action: who (the admin's user id, or none for the admin key alone), when, what
// (action, target, before/after) and from where. The actor's id is not a foreign key: an entry
// outlives the account that made it. Ids are UUIDv7, so id order is time order (pages walk it).
export const auditLog = pgTable(
  'audit_log',
  {
    id: text('id').primaryKey(),
    createdAt: createdAt(),
    actorUserId: text('actor_user_id'),
    /** The actor's email when it acted (accounts change). */
    actorEmail: text('actor_email'),
    /** What made the caller an admin: its access token or API key (role admin), or the admin key. */
    actorCredential: text('actor_credential', { enum: credentialKinds }).notNull(),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    before: jsonb('before').$type<unknown>(),
    after: jsonb('after').$type<unknown>(),
    details: jsonb('details').$type<unknown>(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
  },
  (table) => [
    index('audit_log_action_idx').on(table.action, table.id),
    index('audit_log_actor_idx').on(table.actorUserId, table.id),
    index('audit_log_target_idx').on(table.targetId, table.id),
    index('audit_log_created_at_idx').on(table.createdAt),
  ],
);
// ---- end of the admin audit log block ------------------------------------------------------------

// ---- Stored Responses (responses-api) -----------------------------------------------------------
// responses-api: OpenAI's Responses API keeps each response (store, default true) for GET, DELETE
// and previous_response_id, until expires_at (housekeeping removes it after). `conversation` is
// what continues it (the chain's turns and this reply, as the provider layer's turns), `body` the
// Response object answered. Both are JSON text, not jsonb: a user or a model may write U+0000 or a
// lone surrogate, which jsonb refuses and JSON text carries escaped. The API key is kept as it was
// (no foreign key): a response outlives the key that made it.
export const responses = pgTable(
  'responses',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    apiKeyId: text('api_key_id'),
    model: text('model').notNull(),
    status: text('status').notNull(),
    conversation: text('conversation').notNull(),
    body: text('body').notNull(),
    createdAt: createdAt(),
    expiresAt: at('expires_at').notNull(),
  },
  (table) => [index('responses_user_idx').on(table.userId), index('responses_expires_at_idx').on(table.expiresAt)],
);
// ---- end of stored Responses ----------------------------------------------------------------------
