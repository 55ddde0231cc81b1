// How a /v1 route starts a reply and answers its failure, shared by Chat Completions and the
// Responses API: the model resolved (an unknown one is OpenAI's 404), images refused naming the
// part, a failed reply mapped to the status OpenAI's clients act on, and a caller that leaves
// cancelling its reply (an OpenAI caller cannot come back to it).
import type { UserCaller } from '../../http/auth.ts';
import { AppError } from '../../http/errors.ts';
import { ModelCannotTakeImagesError } from '../../infra/llm/index.ts';
import type { ModelsService, StatelessConversation } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { badParam, modelNotFound, openAiFailure } from './errors.ts';

/** Where a refused image sits, as OpenAI names it (`messages[1].content[0]`), from its turn's and part's index. */
export type PartParam = (messageIndex: number, partIndex: number) => string;

/** The start, failure mapping and cancel-on-leave of a /v1 reply, over the models and replies services. */
export function createReplyLifecycle({ models, replies }: { models: ModelsService; replies: RepliesService }) {
  return {
    /**
     * A reply with no chat, started like any stateless one (model, then LLM limits, then the
     * detached generation). `model` is the request's, for OpenAI's 404 `model_not_found`.
     */
    async start(caller: UserCaller, ip: string, conversation: StatelessConversation, request: { model: string; partParam: PartParam }) {
      try {
        return await models.startStateless(caller, ip, conversation);
      } catch (error) {
        if (error instanceof ModelCannotTakeImagesError) {
          const { messageIndex, partIndex } = error.details;
          throw badParam(request.partParam(messageIndex, partIndex), error.message);
        }
        // The model resolved to nothing offered (`echo/other`, an unconfigured provider).
        const field = error instanceof AppError ? (error.options.details as { field?: string }[] | undefined)?.[0]?.field : undefined;
        if (error instanceof AppError && error.code === 'validation_error' && (field === 'body.model' || field === 'body.provider')) {
          throw modelNotFound(request.model, error.message);
        }
        throw error;
      }
    },

    /** The failed reply's error as /v1 answers it (see openAiFailure); a failure that is not the provider's as the replies service maps it. */
    async failureOf(started: StartedGeneration, model: string): Promise<AppError> {
      const result = await started.done;
      const upstream = openAiFailure(result.error, model);
      if (upstream) return upstream;
      try {
        await replies.result(started);
      } catch (error) {
        if (error instanceof AppError) return error;
      }
      return new AppError('upstream_error', result.error?.message ?? 'The model provider failed');
    },

    /** Cancels the reply if the request is abandoned before it ended (an OpenAI caller cannot come back to it). */
    cancelOnAbort(request: Request, started: StartedGeneration): void {
      const cancel = () => void replies.cancel(started.messageId).catch(() => undefined);
      // The caller may have left while the reply was being started.
      if (request.signal.aborted) {
        cancel();
        return;
      }
      request.signal.addEventListener('abort', cancel, { once: true });
      void started.done.finally(() => request.signal.removeEventListener('abort', cancel));
    },
  };
}

export type ReplyLifecycle = ReturnType<typeof createReplyLifecycle>;
