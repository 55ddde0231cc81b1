// The words the whole backend shares, declared once. Types, request/response schemas
// (src/http/vocabulary.ts), database enums and config parsing are all derived from these arrays.

export const providerNames = ['openai', 'anthropic', 'ollama', 'echo'] as const;
export type ProviderName = (typeof providerNames)[number];

export const roles = ['guest', 'user', 'admin'] as const;
export type Role = (typeof roles)[number];

export const tiers = ['free', 'pro', 'enterprise'] as const;
export type Tier = (typeof tiers)[number];

export const messageRoles = ['system', 'user', 'assistant'] as const;
export type MessageRole = (typeof messageRoles)[number];

export const messageStatuses = ['complete', 'streaming', 'interrupted', 'cancelled', 'error'] as const;
export type MessageStatus = (typeof messageStatuses)[number];

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];
