// /v1's reply plumbing in OpenAI's words, shared by Chat Completions and the Responses API: the
// gateway's (modules/gateway/service.ts) start, failure and cancel-on-leave, with an unknown model
// as OpenAI's 404 model_not_found, a refused image naming its part, and upstream's verdict as
// OpenAI's clients act on it (openAiFailure).
import type { UserCaller } from '../../http/auth.ts';
import { cancelOnAbort, failureOf, startGatewayReply } from '../gateway/service.ts';
import type { ModelsService, StatelessConversation } from '../models/service.ts';
import type { RepliesService, StartedGeneration } from '../replies/service.ts';
import { badParam, modelNotFound, openAiFailure } from './errors.ts';

/** Where a refused image sits, as OpenAI names it (`messages[1].content[0]`), from its turn's and part's index. */
export type PartParam = (messageIndex: number, partIndex: number) => string;

export function createReplyLifecycle({ models, replies }: { models: ModelsService; replies: RepliesService }) {
  return {
    /** A reply with no chat, started like any stateless one; `model` is the request's, for OpenAI's 404 `model_not_found`. */
    start: (caller: UserCaller, ip: string, conversation: StatelessConversation, request: { model: string; partParam: PartParam }) =>
      startGatewayReply(models, caller, ip, conversation, {
        images: (error) => badParam(request.partParam(error.details.messageIndex, error.details.partIndex), error.message),
        unknownModel: (message) => modelNotFound(request.model, message),
      }),
    /** The failed reply's error as /v1 answers it (see openAiFailure). */
    failureOf: (started: StartedGeneration, model: string) => failureOf(replies, started, (failure) => openAiFailure(failure, model)),
    /** Cancels the reply if the request is abandoned before it ended (an OpenAI caller cannot come back to it). */
    cancelOnAbort: (request: Request, started: StartedGeneration) => cancelOnAbort(replies, request, started),
  };
}

export type ReplyLifecycle = ReturnType<typeof createReplyLifecycle>;
