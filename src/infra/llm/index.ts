// Builds the configured providers and answers "which provider and model serve this request".

import { type Config, configuredProviders } from '../../config/index.ts';
import { canonicalProvider } from '../../config/vocabulary.ts';
import type { Logger } from '../log/index.ts';
import { createAnthropicProvider } from './anthropic.ts';
import { imageRefusal } from './content.ts';
import { createEchoProvider, ECHO_MODELS } from './echo.ts';
import { createOllamaProvider } from './ollama.ts';
import { createOpenAiProvider } from './openai.ts';
import { modelInfos } from './shared.ts';
import type { ChatMessage, LlmProvider, ModelCannotTakeImagesError, ModelInfo, ProviderName } from './types.ts';
import { UnknownModelError, UpstreamError } from './types.ts';
import { createVisionCheck } from './vision.ts';

export { createAnthropicProvider } from './anthropic.ts';
export {
  ANY_IMAGE_INPUT,
  base64ByteLength,
  contentText,
  dataUrlOf,
  hasImages,
  imagePartFromUrl,
  imageRefusal,
  imagesOf,
} from './content.ts';
export { createEchoProvider, describeImage, ECHO_MODELS } from './echo.ts';
export {
  createOllamaProvider,
  OLLAMA_IMAGE_INPUT,
  type OllamaModelStatus,
  ollamaModelName,
  ollamaModelStatus,
  startOllamaModel,
  stopOllamaModel,
} from './ollama.ts';
export { createOpenAiProvider } from './openai.ts';
export { createUpstreamFetch, type UpstreamFetch } from './pool.ts';
export { estimateContentTokens, estimateTokens, IMAGE_TOKEN_ESTIMATE } from './shared.ts';
export * from './types.ts';
export { createVisionCheck, type VisionModels } from './vision.ts';

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
   * level whose provider is the one chosen; without one, the provider's first configured model, or
   * (ollama without OLLAMA_MODELS) the first model it lists. Rejects with UnknownModelError for an
   * unknown or unconfigured provider, or when no model can be chosen.
   */
  resolve(provider?: string | null, model?: string | null, chat?: ChatDefaults): Promise<Resolved>;
  /** Every provider's models (see modelsOf), the `vision` capability added to those that take images: never rejects. */
  listAllModels(): Promise<ModelInfo[]>;
  /** Whether `model` of `provider` takes images: its provider's *_VISION_MODELS patterns (vision.ts); echo always. */
  supportsImages(provider: ProviderName, model: string): boolean;
  /**
   * Throws ModelCannotTakeImagesError when an image of `messages` cannot go to `model` of
   * `provider` (see imageRefusal: no vision, a form or format its provider does not take, an
   * image in an assistant turn, a malformed one); returns quietly otherwise, and always for text.
   */
  checkImages(provider: ProviderName, model: string, messages: readonly ChatMessage[]): void;
  /** As checkImages, but answers the refusal (or undefined) instead of throwing it: for streamWithResilience's attempts. */
  imageRefusal(provider: ProviderName, model: string, messages: readonly ChatMessage[]): ModelCannotTakeImagesError | undefined;
};

export function createProviders(config: LlmConfig, log: Logger): Providers {
  const llmLog = log.child({ component: 'llm' });
  const providers = new Map<ProviderName, LlmProvider>();
  const fetch = createUpstreamFetch(config.llm.maxConnections);
  for (const name of configuredProviders(config)) {
    providers.set(name, build(name, config, fetch));
  }

  const supportsImages = createVisionCheck(config.llm.visionModels);
  const refusal = (provider: ProviderName, model: string, messages: readonly ChatMessage[]) =>
    imageRefusal(messages, { provider, model, vision: supportsImages(provider, model), input: providers.get(provider)?.imageInput });

  /** A provider's configured list (OPENAI_MODELS…): what it offers when it cannot be asked. */
  const configuredModels = (name: ProviderName): readonly string[] => (name === 'echo' ? ECHO_MODELS : config.llm.models[name]);

  /**
   * The one model-list fallback: what the provider lists, else (it failed, or listed nothing) its
   * configured list. Anthropic lists dated ids (`claude-x-20250929`) beside the aliases people
   * configure (`claude-x`), so a configured alias follows upstream's ids when upstream lists the
   * model it names; one upstream no longer lists (a model past its end of life) is left out.
   * A failure is logged, never thrown.
   */
  async function modelsOf(provider: LlmProvider): Promise<ModelInfo[]> {
    const configured = configuredModels(provider.name);
    let listed: ModelInfo[] = [];
    try {
      listed = await provider.listModels();
    } catch (e) {
      llmLog.warn('llm.models_list_failed', {
        provider: provider.name,
        error: e instanceof Error ? e.message : String(e),
        ...(e instanceof UpstreamError && e.options.detail ? { detail: e.options.detail } : {}),
      });
    }
    if (listed.length === 0) return modelInfos(provider.name, configured);
    if (provider.name !== 'anthropic') return listed;
    const ids = listed.map((m) => m.id);
    const named = (alias: string) =>
      ids.some((id) => id === alias || (id.startsWith(`${alias}-`) && /^\d{8}$/.test(id.slice(alias.length + 1))));
    return modelInfos(provider.name, [...ids, ...configured.filter(named)]);
  }

  function pickProvider(provider: string | null | undefined, chat: ChatDefaults | undefined): ProviderName {
    const word = provider || chat?.provider || config.defaultProvider;
    // An alias (`claude`) names its canonical provider here too, for callers that did not decode it.
    const name = canonicalProvider(word);
    if (!name || !providers.has(name)) {
      throw new UnknownModelError(`provider "${word}" is not configured`);
    }
    return name;
  }

  /** The model, or undefined when only a live lookup (ollama's /api/tags) could name one. */
  function pickModel(name: ProviderName, model: string | null | undefined, chat: ChatDefaults | undefined) {
    if (model) return model;
    if (chat?.model && (chat.provider || config.defaultProvider) === name) return chat.model;
    if (name === config.defaultProvider && config.defaultModel) return config.defaultModel;
    return configuredModels(name)[0];
  }

  async function resolve(provider?: string | null, model?: string | null, chat?: ChatDefaults): Promise<Resolved> {
    const name = pickProvider(provider, chat);
    const chosen = pickModel(name, model, chat) ?? (await modelsOf(providers.get(name)!))[0]?.id;
    if (!chosen) throw new UnknownModelError(`no model given and "${name}" offers none (set OLLAMA_MODELS)`);
    return { provider: name, model: chosen };
  }

  async function listAllModels(): Promise<ModelInfo[]> {
    const all = (await Promise.all([...providers.values()].map(modelsOf))).flat();
    return all.map((info) =>
      supportsImages(info.provider, info.id) && !info.capabilities.includes('vision')
        ? { ...info, capabilities: [...info.capabilities, 'vision'] }
        : info,
    );
  }

  return {
    providers,
    resolve,
    listAllModels,
    supportsImages,
    imageRefusal: refusal,
    checkImages(provider, model, messages) {
      const refused = refusal(provider, model, messages);
      if (refused) throw refused;
    },
  };
}

function build(name: ProviderName, config: LlmConfig, fetch: UpstreamFetch): LlmProvider {
  switch (name) {
    case 'openai':
      return createOpenAiProvider({
        apiKey: config.openai.apiKey,
        baseUrl: config.openai.baseUrl,
        fetch,
      });
    case 'anthropic':
      return createAnthropicProvider({
        apiKey: config.anthropic.apiKey ?? '',
        baseUrl: config.anthropic.baseUrl,
        fetch,
      });
    case 'ollama':
      return createOllamaProvider({
        baseUrl: config.ollama.baseUrl ?? 'http://localhost:11434',
        fetch,
      });
    case 'echo':
      return createEchoProvider({ delayMs: config.llm.echoDelayMs });
  }
}
