import type { UserCaller } from '../../http/auth.ts';
import { AppError } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import {
  ECHO_MODELS,
  type ModelInfo,
  ollamaModelStatus,
  type Providers,
  startOllamaModel,
  stopOllamaModel,
  UnknownModelError,
  UpstreamError,
} from '../../infra/llm/index.ts';
import type { Generations } from '../chats/generation.ts';
import { llmSubject, type LlmLimits } from '../chats/llm-limits.ts';
import type { ModelResolver } from '../chats/service.ts';

const modelListTtlMs = 60_000;
export const modelListCacheKey = 'cache:models';

/** The provider and model a call uses: request, else chat, else the defaults; a clear 422 otherwise. */
export function createModelResolver(providers: Providers): ModelResolver {
  return async (requested, chat) => {
    try {
      const resolved = await providers.resolveAsync(requested.provider, requested.model, chat);
      if (resolved.provider === 'echo' && !(ECHO_MODELS as readonly string[]).includes(resolved.model)) {
        throw new UnknownModelError(`The echo provider offers ${ECHO_MODELS.join(', ')}, not "${resolved.model}"`);
      }
      return resolved;
    } catch (error) {
      if (!(error instanceof UnknownModelError)) throw error;
      const field = requested.model && !requested.provider ? 'body.model' : 'body.provider';
      throw new AppError('validation_error', error.message, { details: [{ field, message: error.message }] });
    }
  };
}

/** Models, stateless chat, LLM limits, and starting/stopping Ollama models. */
export function createModelsService(infra: Infra, deps: { providers: Providers; resolveModel: ModelResolver; generations: Generations; limits: LlmLimits }) {
  const { providers, resolveModel, generations, limits } = deps;

  const ollamaUrl = () => {
    const url = infra.config.ollama.baseUrl;
    if (!url) throw new AppError('unavailable', 'Ollama is not configured (set OLLAMA_BASE_URL)');
    return url;
  };
  const ollamaCall = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UnknownModelError) throw new AppError('not_found', error.message);
      if (error instanceof UpstreamError) throw new AppError('upstream_error', error.message);
      throw error;
    }
  };

  return {
    /** Every provider's list, cached in KV for a minute (shared by instances, cleared by admins). */
    async list(): Promise<ModelInfo[]> {
      const cached = await infra.kv.get(modelListCacheKey).catch(() => null);
      if (cached) return JSON.parse(cached) as ModelInfo[];
      const models = await providers.listAllModels();
      await infra.kv.set(modelListCacheKey, JSON.stringify(models), { ttlMs: modelListTtlMs }).catch(() => undefined);
      return models;
    },

    /** A reply with no chat: nothing stored but the usage; streamed through a buffer like any other. */
    async startStateless(
      caller: UserCaller,
      ip: string,
      body: { message: string; provider?: string; model?: string; history?: { role: 'user' | 'assistant'; content: string }[]; system?: string; temperature?: number; maxTokens?: number },
    ) {
      const { provider, model } = await resolveModel(body);
      await limits.consume(llmSubject(caller.user, ip));
      return generations.start({
        userId: caller.user.id,
        chatId: null,
        userMessageId: null,
        messageId: Bun.randomUUIDv7(),
        provider,
        model,
        system: body.system,
        history: [...(body.history ?? []), { role: 'user', content: body.message }],
        maxTokens: body.maxTokens ?? infra.config.maxTokens,
        temperature: body.temperature ?? infra.config.temperature,
        persist: false,
      });
    },

    rateLimit: (caller: UserCaller, ip: string) => limits.peek(llmSubject(caller.user, ip)),

    ollamaStatus: (model: string) => ollamaCall(() => ollamaModelStatus(ollamaUrl(), model)),
    startOllama: (model: string) => ollamaCall(() => startOllamaModel(ollamaUrl(), model)),
    stopOllama: (model: string) => ollamaCall(() => stopOllamaModel(ollamaUrl(), model)),
  };
}

export type ModelsService = ReturnType<typeof createModelsService>;
