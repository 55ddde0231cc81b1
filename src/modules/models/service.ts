import type { UserCaller } from '../../http/auth.ts';
import { AppError, invalid } from '../../http/errors.ts';
import type { Limits } from '../../http/limits.ts';
import { type CallerLimit, callerSubject } from '../../http/rate-limit.ts';
import type { Infra } from '../../infra/index.ts';
import {
  type ChatMessage,
  type MessageContent,
  type ModelInfo,
  ollamaModelStatus,
  type Providers,
  type Sampling,
  startOllamaModel,
  stopOllamaModel,
  type ToolChoice,
  type ToolDefinition,
  UnknownModelError,
  UpstreamError,
} from '../../infra/llm/index.ts';
import type { FilesService } from '../files/service.ts';
import type { GenerationInput, RepliesService } from '../replies/service.ts';

export type StatelessChat = {
  /** The user's turn: text, or parts with images (a caller that takes them, such as /v1, builds them). */
  message: MessageContent;
  provider?: string;
  model?: string;
  history?: ChatMessage[];
  system?: string;
  temperature?: number;
  maxTokens?: number;
  /** Sampling options beyond temperature (top_p, stop, seed…), for callers that take them (/v1). */
  sampling?: Sampling;
  /** Functions the model may call; a call comes back as a `tool_call` event and in the result's `toolCalls`. */
  tools?: ToolDefinition[];
  /** Only with `tools`; absent: `auto`. */
  toolChoice?: ToolChoice;
  /** false: at most one tool call per reply. */
  parallelToolCalls?: boolean;
  /** Awaited once the reply ended, before its last event (see GenerationInput.onSettled). */
  onSettled?: GenerationInput['onSettled'];
};

/**
 * A whole conversation for a stateless reply, as the OpenAI-compatible API takes one: any turns
 * (tool calls and tool results too), ending with any role, or none at all when `system` is the
 * whole prompt.
 */
export type StatelessConversation = Omit<StatelessChat, 'message' | 'history'> & { messages: ChatMessage[] };

/** POST /chat's body (StatelessChatBody): `message` may be left out after tool results. */
export type StatelessChatRequest = Omit<StatelessChat, 'message' | 'history' | 'sampling'> & { message?: string; history?: ChatMessage[] };

/**
 * The stateless request as the reply engine takes it: the user's message after the history, or,
 * without a message, the history alone when it ends with tool results (the model answers them).
 * Throws 422 on `body.message` otherwise.
 */
function statelessOf(body: StatelessChatRequest): StatelessChat | StatelessConversation {
  const { message, history = [], ...rest } = body;
  if (message !== undefined) return { ...rest, message, history };
  if (history.at(-1)?.role !== 'tool') throw invalid('body.message', 'is required unless the history ends with tool results');
  return { ...rest, messages: history };
}

/** Models, stateless chat, LLM limits, and starting/stopping Ollama models. */
export function createModelsService(
  infra: Infra,
  deps: {
    providers: Providers;
    replies: RepliesService;
    searchLimit: CallerLimit;
    uploadLimit: CallerLimit;
    limits: Pick<Limits, 'peekGeneral'>;
    files: Pick<FilesService, 'storage'>;
  },
) {
  const { providers, replies, searchLimit, uploadLimit } = deps;
  // Shared by instances for a minute (KV), a few seconds in each process; admins clear it (`models*`).
  const modelList = infra.cache.namespace<ModelInfo[]>('models', { l1TtlMs: 5_000, l2TtlMs: 60_000 });

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
      if (error instanceof UpstreamError) {
        // The client gets the generic message; what Ollama said goes to the log only.
        infra.log.warn('ollama.call_failed', { status: error.options.status, error: error.message, detail: error.options.detail });
        throw new AppError('upstream_error', error.message);
      }
      throw error;
    }
  };

  return {
    /** Every provider's list, from the two-layer cache (one provider round per instance however many ask at once). */
    list: (): Promise<ModelInfo[]> => modelList.get('all', () => providers.listAllModels()),

    /**
     * A reply with no chat: nothing stored but the usage; streamed through a buffer like any other.
     * Images the model cannot take throw ModelCannotTakeImagesError before the call is counted.
     */
    async startStateless(caller: UserCaller, ip: string, body: StatelessChat | StatelessConversation) {
      const model = await replies.resolveModel(body);
      const history: ChatMessage[] =
        'messages' in body ? body.messages : [...(body.history ?? []), { role: 'user', content: body.message }];
      replies.checkImages(model, history);
      return replies.admitReply(caller, ip, model, (slot) =>
        replies.start({
          slot,
          userId: caller.user.id,
          apiKeyId: caller.apiKeyId,
          chatId: null,
          userMessageId: null,
          ...model,
          system: body.system,
          history,
          maxTokens: body.maxTokens ?? infra.config.maxTokens,
          temperature: body.temperature ?? infra.config.temperature,
          sampling: body.sampling,
          ...(body.tools?.length ? { tools: body.tools, toolChoice: body.toolChoice, parallelToolCalls: body.parallelToolCalls } : {}),
          ...(body.onSettled ? { onSettled: body.onSettled } : {}),
        }),
      );
    },

    /** POST /chat: the whole stateless reply (502 if the provider failed), with the tools the model called, if any. */
    async chat(caller: UserCaller, ip: string, body: StatelessChatRequest) {
      const result = await replies.result(await this.startStateless(caller, ip, statelessOf(body)));
      return {
        reply: result.text,
        provider: result.provider,
        model: result.model,
        usage: result.usage,
        ...(result.toolCalls.length ? { toolCalls: result.toolCalls } : {}),
      };
    },

    /** POST /chat/stream: the stateless reply as SSE (`tool_call` events for the tools the model calls). */
    async chatStream(caller: UserCaller, ip: string, body: StatelessChatRequest): Promise<Response> {
      return replies.sse((await this.startStateless(caller, ip, statelessOf(body))).streamId);
    },

    /** The LLM call limits, the search and upload limits, and what the caller has left of each; counts nothing. */
    async rateLimit(caller: UserCaller, ip: string) {
      const subject = callerSubject(caller.user, ip);
      const [llm, search, uploads, general, storage] = await Promise.all([
        replies.limits(caller, ip),
        searchLimit.peek(subject),
        uploadLimit.peek(subject),
        deps.limits.peekGeneral(ip),
        deps.files.storage(caller.user),
      ]);
      return { ...llm, search, uploads, general, storage };
    },

    ollamaStatus: (model: string) => ollamaCall(() => ollamaModelStatus(ollamaUrl(), model)),
    startOllama: (model: string) => ollamaCall(() => startOllamaModel(ollamaUrl(), model)),
    stopOllama: (model: string) => ollamaCall(() => stopOllamaModel(ollamaUrl(), model)),
  };
}

export type ModelsService = ReturnType<typeof createModelsService>;
