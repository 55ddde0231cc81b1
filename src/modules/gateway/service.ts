// The gateway's service: what the APIs Parley imitates (OpenAI's Chat Completions in
// openai-compat/, Anthropic's Messages in anthropic-compat/) share, as plain functions over the
// models and replies services: a model id read as `provider/model`, a stateless reply started
// with its refusals in the imitated API's words, its failure as an AppError (upstream's verdict
// classified once), and a caller that leaves cancelling it (these callers cannot come back to a
// reply).
import { canonicalProvider } from '../../config/vocabulary.ts';
import type { UserCaller } from '../../http/auth.ts';
import { AppError, type ErrorCode } from '../../http/errors.ts';
import { ModelCannotTakeImagesError, type ProviderName } from '../../infra/llm/index.ts';
import type { ModelsService, StatelessConversation } from '../models/service.ts';
import type { GenerationFailure, RepliesService, StartedGeneration } from '../replies/service.ts';

/**
 * A model id as the gateways read it: `provider/model` names the provider (`claude/…` is
 * anthropic's); an id without a known provider is a model of the default provider, as it is.
 */
export function modelOf(id: string): { provider: ProviderName | undefined; model: string } {
  const [first = '', ...rest] = id.split('/');
  const provider = rest.length > 0 ? canonicalProvider(first) : undefined;
  return { provider, model: provider ? rest.join('/') : id };
}

/** How an imitated API words the refusals of a reply's start. */
export type StartRefusals = {
  /** An image the model cannot take (see ModelCannotTakeImagesError). */
  images: (error: ModelCannotTakeImagesError) => AppError;
  /** The model resolved to nothing offered (`echo/other`, an unconfigured provider); `message` says why. */
  unknownModel: (message: string) => AppError;
};

/**
 * A reply with no chat, started like any stateless one (model, then LLM limits and the caller's
 * API key limits, then the detached generation). Images the model cannot take and an unknown
 * model are thrown in the imitated API's words (`refusals`); anything else as it was thrown.
 */
export async function startGatewayReply(
  models: ModelsService,
  caller: UserCaller,
  ip: string,
  conversation: StatelessConversation,
  refusals: StartRefusals,
): Promise<StartedGeneration> {
  try {
    return await models.startStateless(caller, ip, conversation);
  } catch (error) {
    if (error instanceof ModelCannotTakeImagesError) throw refusals.images(error);
    if (isUnknownModel(error)) throw refusals.unknownModel((error as AppError).message);
    throw error;
  }
}

/** Whether `error` is the replies service's refusal of the model or provider asked for (a 422 on body.model / body.provider). */
export function isUnknownModel(error: unknown): boolean {
  if (!(error instanceof AppError) || error.code !== 'validation_error') return false;
  const field = (error.options.details as { field?: string }[] | undefined)?.[0]?.field;
  return field === 'body.model' || field === 'body.provider';
}

/**
 * The failed reply's error as the gateway answers it: `upstream` maps the provider's failure (its
 * status and message, see GenerationFailure); a failure that is not the provider's as the replies
 * service maps it (503 for the stream buffer, …).
 */
export async function failureOf(
  replies: RepliesService,
  started: StartedGeneration,
  upstream: (failure: GenerationFailure | undefined) => AppError | undefined,
): Promise<AppError> {
  const result = await started.done;
  const mapped = upstream(result.error);
  if (mapped) return mapped;
  try {
    await replies.result(started);
  } catch (error) {
    if (error instanceof AppError) return error;
  }
  return new AppError('upstream_error', result.error?.message ?? 'The model provider failed');
}

/** Cancels the reply if `request` is abandoned before the reply ended (the caller cannot come back to it). */
export function cancelOnAbort(replies: RepliesService, request: Request, started: StartedGeneration): void {
  const cancel = () => void replies.cancel(started.messageId).catch(() => undefined);
  // The caller may have left while the reply was being started.
  if (request.signal.aborted) {
    cancel();
    return;
  }
  request.signal.addEventListener('abort', cancel, { once: true });
  void started.done.finally(() => request.signal.removeEventListener('abort', cancel));
}

/** Retry-After seconds below this are not worth passing on: the client is told not to retry instead. */
const MIN_RETRY_AFTER_SECONDS = 1;

/** How an imitated API words upstream's verdict on a reply (see upstreamVerdict). */
export type VerdictWords = {
  /** Upstream does not know the model (its 404); `message` is upstream's own, when it gave one. */
  notFound: (message: string | undefined) => AppError;
  /** Upstream refused the request itself (400, 413, 422), saying `message`. */
  refused: (message: string) => AppError;
  /** A fault after Parley's own retries, as the contract's `code` with the `headers` to send. */
  fault: (code: ErrorCode, message: string, headers: Record<string, string>) => AppError;
};

/**
 * The AppError for a reply the provider failed, in an imitated API's `words`; undefined for a
 * failure that is not the provider's (the stream buffer, the database: the replies service maps
 * those). An upstream's refusal of the request (400, 404, 413, 422) is the client's, with
 * upstream's own message; a fault after Parley's own retries (401/403: Parley's key; 429; 5xx; no
 * answer at all) is 502 (503 for upstream's 503, 429 for its 429) with `x-should-retry: false`,
 * or upstream's Retry-After when it named one of at least a second, so the SDKs' own retries do
 * not multiply Parley's.
 */
export function upstreamVerdict(failure: GenerationFailure | undefined, words: VerdictWords): AppError | undefined {
  if (failure?.code !== 'upstream_error') return undefined;
  const { status, clientMessage, retryAfterSeconds } = failure.upstream ?? {};
  if (status === 404) return words.notFound(clientMessage);
  if (status === 400 || status === 413 || status === 422) return words.refused(clientMessage ?? failure.message);
  const headers: Record<string, string> =
    retryAfterSeconds !== undefined && retryAfterSeconds >= MIN_RETRY_AFTER_SECONDS && (status === 429 || status === 503)
      ? { 'retry-after': String(Math.ceil(retryAfterSeconds)) }
      : { 'x-should-retry': 'false' };
  const code: ErrorCode = status === 429 ? 'rate_limited' : status === 503 ? 'unavailable' : 'upstream_error';
  return words.fault(code, failure.message, headers);
}
