// Postgres mirror of schema.sqlite.ts: same tables, columns and indexes (tests/db/schema-parity.test.ts checks).
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { credentialKinds, messageRoles, messageStatuses, roles, tiers } from '../../config/vocabulary.ts';

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
  },
  (table) => [uniqueIndex('api_keys_hash_unique').on(table.keyHash), index('api_keys_user_idx').on(table.userId)],
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
    // parent and a role: regenerated replies, or edited user messages.
    parentId: text('parent_id'),
    /** Chosen among its siblings; the active path follows the chosen ones from the root. */
    selected: boolean('selected').notNull().default(true),
    /** On the active path (selected, and every ancestor selected): what reads, history, search and stats use. */
    active: boolean('active').notNull().default(true),
    /** The order along a path: a user message's id, or `<user message id>:<id>` for a reply, so a reply sorts inside its turn. */
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
  // The admin overview sums a range of days across every user.
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
