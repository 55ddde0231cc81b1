// The words the whole backend shares, declared once. Types, request/response schemas
// (src/http/vocabulary.ts), database enums and config parsing are all derived from these arrays.

export const providerNames = ['openai', 'anthropic', 'ollama', 'echo'] as const;
export type ProviderName = (typeof providerNames)[number];

/**
 * Other names clients use for a provider (the PWA calls Anthropic `claude`). Accepted wherever a
 * provider is named (request bodies, `provider/model` ids, DEFAULT_PROVIDER, LLM_FALLBACKS) and
 * turned into the canonical name at once: only canonical names are stored or answered.
 */
export const providerAliases = { claude: 'anthropic' } as const satisfies Record<string, ProviderName>;
export type ProviderAlias = keyof typeof providerAliases;

/** Every word that names a provider: the canonical names, then the aliases. */
export const providerWords = [...providerNames, ...(Object.keys(providerAliases) as ProviderAlias[])] as const;

/** The canonical provider a word names (`claude` → `anthropic`), or undefined when it names none. Exact, case-sensitive. */
export function canonicalProvider(word: string): ProviderName | undefined {
  if ((providerNames as readonly string[]).includes(word)) return word as ProviderName;
  return Object.hasOwn(providerAliases, word) ? providerAliases[word as ProviderAlias] : undefined;
}

export const roles = ['guest', 'user', 'admin'] as const;
export type Role = (typeof roles)[number];

export const tiers = ['free', 'pro', 'enterprise'] as const;
export type Tier = (typeof tiers)[number];

/** What a caller presented that made it who it is: an access token, an API key, or the admin key. */
export const credentialKinds = ['token', 'apiKey', 'adminKey'] as const;
export type CredentialKind = (typeof credentialKinds)[number];

/** `tool`: the results of an assistant message's tool calls, sent back by the client (a chat's tool turn). */
export const messageRoles = ['system', 'user', 'assistant', 'tool'] as const;
export type MessageRole = (typeof messageRoles)[number];

export const messageStatuses = ['complete', 'streaming', 'interrupted', 'cancelled', 'error'] as const;
export type MessageStatus = (typeof messageStatuses)[number];

export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];
