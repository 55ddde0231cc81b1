// Builds the configured providers and answers "which provider and model serve this request".

import { type Config, configuredProviders } from '../../config/index.ts';
import type { Logger } from '../log/index.ts';
import { createAnthropicProvider } from './anthropic.ts';
import { createEchoProvider, ECHO_MODELS } from './echo.ts';
import { createOllamaProvider } from './ollama.ts';
import { createOpenAiProvider } from './openai.ts';
import { modelInfos } from './shared.ts';
import type { LlmProvider, ModelInfo, ProviderName } from './types.ts';
import { UnknownModelError } from './types.ts';

export { createAnthropicProvider } from './anthropic.ts';
export { createEchoProvider, ECHO_MODELS } from './echo.ts';
export {
  createOllamaProvider,
  type OllamaModelStatus,
  ollamaModelName,
  ollamaModelStatus,
  startOllamaModel,
  stopOllamaModel,
} from './ollama.ts';
export { createOpenAiProvider } from './openai.ts';
export { createUpstreamFetch, type UpstreamFetch } from './pool.ts';
export * from './types.ts';

import { createUpstreamFetch, type UpstreamFetch } from './pool.ts';

export { type Attempt, type ResilienceOptions, streamWithResilience } from './resilient.ts';

export type LlmConfig = Pick<Config, 'openai' | 'anthropic' | 'ollama' | 'defaultProvider' | 'defaultModel' | 'llm'>;

/** What a chat remembers; either may be missing (or null, as stored in a database row). */
export type ChatDefaults = { provider?: string | null | undefined; model?: string | null | undefined };

export type Resolved = { provider: ProviderName; model: string };

export type Providers = {
  /** Configured providers only; echo is always there. */
  providers: Map<ProviderName, LlmProvider>;
  /**
   * Request, else the chat, else DEFAULT_PROVIDER/DEFAULT_MODEL. A model is only inherited from a
   * level whose provider is the one chosen. Throws UnknownModelError for an unknown or unconfigured
   * provider, or when no model can be chosen (ollama without OLLAMA_MODELS: see resolveAsync).
   */
  resolve(provider?: string | null, model?: string | null, chat?: ChatDefaults): Resolved;
  /** resolve(), but an ollama without OLLAMA_MODELS falls back to the first model of /api/tags. */
  resolveAsync(provider?: string | null, model?: string | null, chat?: ChatDefaults): Promise<Resolved>;
  /** Every provider's models; a provider that fails contributes its configured list instead. */
  listAllModels(): Promise<ModelInfo[]>;
  /** The configured fallback list of one provider (what it offers when it cannot be asked). */
  configuredModels(provider: ProviderName): readonly string[];
};

export function createProviders(config: LlmConfig, log: Logger): Providers {
  const llmLog = log.child({ component: 'llm' });
  const providers = new Map<ProviderName, LlmProvider>();
  const fetch = createUpstreamFetch(config.llm.maxConnections);
  for (const name of configuredProviders(config)) {
    providers.set(name, build(name, config, llmLog, fetch));
  }

  const configuredModels = (name: ProviderName): readonly string[] => (name === 'echo' ? ECHO_MODELS : config.llm.models[name]);

  function pickProvider(provider: string | null | undefined, chat: ChatDefaults | undefined): ProviderName {
    const name = provider || chat?.provider || config.defaultProvider;
    if (!providers.has(name as ProviderName)) {
      throw new UnknownModelError(`provider "${name}" is not configured`);
    }
    return name as ProviderName;
  }

  /** The model, or undefined when only a live lookup (ollama's /api/tags) could name one. */
  function pickModel(name: ProviderName, model: string | null | undefined, chat: ChatDefaults | undefined) {
    if (model) return model;
    if (chat?.model && (chat.provider || config.defaultProvider) === name) return chat.model;
    if (name === config.defaultProvider && config.defaultModel) return config.defaultModel;
    return configuredModels(name)[0];
  }

  function resolve(provider?: string | null, model?: string | null, chat?: ChatDefaults): Resolved {
    const name = pickProvider(provider, chat);
    const chosen = pickModel(name, model, chat);
    if (!chosen) throw new UnknownModelError(`no model given and none configured for "${name}" (set OLLAMA_MODELS)`);
    return { provider: name, model: chosen };
  }

  async function resolveAsync(provider?: string | null, model?: string | null, chat?: ChatDefaults): Promise<Resolved> {
    const name = pickProvider(provider, chat);
    const chosen = pickModel(name, model, chat) ?? (await providers.get(name)?.listModels())?.[0]?.id;
    if (!chosen) throw new UnknownModelError(`no model given and "${name}" offers none`);
    return { provider: name, model: chosen };
  }

  async function listAllModels(): Promise<ModelInfo[]> {
    const lists = await Promise.all(
      [...providers.values()].map(async (p) => {
        try {
          return await p.listModels();
        } catch (e) {
          // Providers already fall back themselves; this guards the listing against any other bug.
          llmLog.warn('llm.models_list_failed', { provider: p.name, error: e instanceof Error ? e.message : String(e) });
          return modelInfos(p.name, configuredModels(p.name));
        }
      }),
    );
    return lists.flat();
  }

  return { providers, resolve, resolveAsync, listAllModels, configuredModels };
}

function build(name: ProviderName, config: LlmConfig, log: Logger, fetch: UpstreamFetch): LlmProvider {
  switch (name) {
    case 'openai':
      return createOpenAiProvider({
        apiKey: config.openai.apiKey,
        baseUrl: config.openai.baseUrl,
        models: config.llm.models.openai,
        log,
        fetch,
      });
    case 'anthropic':
      return createAnthropicProvider({
        apiKey: config.anthropic.apiKey ?? '',
        baseUrl: config.anthropic.baseUrl,
        models: config.llm.models.anthropic,
        log,
        fetch,
      });
    case 'ollama':
      return createOllamaProvider({
        baseUrl: config.ollama.baseUrl ?? 'http://localhost:11434',
        models: config.llm.models.ollama,
        log,
        fetch,
      });
    case 'echo':
      return createEchoProvider({ delayMs: config.llm.echoDelayMs });
  }
}
