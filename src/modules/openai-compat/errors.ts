import { errorFormat } from '../../http/docs.ts';
// Errors on /v1 as OpenAI's SDKs expect them. Everything is still thrown as an AppError and
// written once by the error handler, which writes it in OpenAI's shape
// `{error: {message, type, param, code}}` on these paths (openAiErrorDialect). A schema violation is OpenAI's
// 400 `invalid_request_error` naming the field in `param`, not the contract's 422. An upstream's
// verdict on a request stays the client's (openAiFailure): 400 stays 400, an unknown model is
// 404 `model_not_found`, and once Parley has spent its own retries on a fault it says so
// (`x-should-retry: false`, or upstream's Retry-After), so the SDKs' retries do not multiply them.
import type { ErrorDialect } from '../../http/error-handler.ts';
import { AppError, type ErrorCode } from '../../http/errors.ts';
import { upstreamVerdict } from '../gateway/service.ts';
import type { GenerationFailure } from '../replies/service.ts';
import { OpenAiError } from './model.ts';

/** An OpenAI error's fields other than its message; an AppError carries them in `details.openai`. */
export type OpenAiHint = { type?: string; code?: string | null; param?: string | null };

/** An AppError that says how OpenAI would name it (written into `details`, which /v1 never shows as such). */
export function hinted(code: ErrorCode, message: string, hint: OpenAiHint, headers?: Record<string, string>): AppError {
  return new AppError(code, message, { details: { openai: hint }, ...(headers ? { headers } : {}) });
}

/** A request field Parley refuses, as OpenAI's 400 naming it: `param` in OpenAI's notation (`messages[1].content[0]`). */
export function badParam(param: string, message: string): AppError {
  return hinted('validation_error', message, { type: 'invalid_request_error', code: 'invalid_value', param });
}

/** The unknown model, as OpenAI answers it. */
export function modelNotFound(model: string, message = `The model \`${model}\` does not exist or you do not have access to it.`): AppError {
  return hinted('not_found', message, { type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
}

/** `body.messages.1.content.0` (the contract's field names) as OpenAI names the field: `messages[1].content[0]`; the body itself: null. */
export function openAiParam(field: string): string | null {
  const path = field.replace(/^body\.?/, '');
  if (!path) return null;
  return path.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

/** Each contract code as OpenAI types it: the status OpenAI would answer, its `type` and `code`. */
const SHAPES: Record<ErrorCode, { status: number; type: string; code: string | null }> = {
  invalid_json: { status: 400, type: 'invalid_request_error', code: 'invalid_json' },
  unauthorized: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  forbidden: { status: 403, type: 'invalid_request_error', code: 'forbidden' },
  not_found: { status: 404, type: 'invalid_request_error', code: 'not_found' },
  conflict: { status: 409, type: 'invalid_request_error', code: 'conflict' },
  payload_too_large: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', code: 'unsupported_media_type' },
  range_not_satisfiable: { status: 416, type: 'invalid_request_error', code: 'range_not_satisfiable' },
  // Schema violations: OpenAI answers 400, not the contract's 422.
  validation_error: { status: 400, type: 'invalid_request_error', code: 'invalid_value' },
  rate_limited: { status: 429, type: 'requests', code: 'rate_limit_exceeded' },
  quota_exceeded: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' },
  internal_error: { status: 500, type: 'server_error', code: null },
  upstream_error: { status: 502, type: 'server_error', code: 'upstream_error' },
  unavailable: { status: 503, type: 'server_error', code: 'service_unavailable' },
};

export type OpenAiErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

/** An AppError in OpenAI's shape, with the status OpenAI would answer. */
export function openAiErrorOf(error: AppError): { status: number; body: OpenAiErrorBody } {
  const shape = SHAPES[error.code];
  const details = error.options.details as { openai?: OpenAiHint } | { field: string; message: string }[] | undefined;
  const fields = Array.isArray(details) ? details : [];
  const hint = !Array.isArray(details) ? details?.openai : undefined;
  const param = hint?.param !== undefined ? hint.param : fields[0] ? openAiParam(fields[0].field) : null;
  // A schema violation's summary says nothing ("Request validation failed"): name what failed.
  const message =
    fields.length && error.code === 'validation_error'
      ? fields.map((field) => `${openAiParam(field.field) ?? 'body'}: ${field.message}`).join('; ')
      : error.message;
  return {
    status: shape.status,
    body: { error: { message, type: hint?.type ?? shape.type, param, code: hint?.code !== undefined ? hint.code : shape.code } },
  };
}

/**
 * The routes that answer in OpenAI's shape, for the error handler: every path under /v1 (unknown
 * ones too) but Anthropic's Messages API, which has a shape of its own.
 */
export const openAiErrorDialect: ErrorDialect = {
  matches: (path) => (path === '/v1' || path.startsWith('/v1/')) && !path.startsWith('/v1/messages'),
  write: openAiErrorOf,
};

/**
 * The AppError for a reply the provider failed, as /v1 answers it (see upstreamVerdict): an
 * unknown model is 404 `model_not_found`, a refusal 400 `invalid_request_error` with upstream's
 * message; undefined for a failure that is not the provider's.
 */
export function openAiFailure(failure: GenerationFailure | undefined, model: string): AppError | undefined {
  return upstreamVerdict(failure, {
    notFound: (message) => modelNotFound(model, message),
    refused: (message) => hinted('validation_error', message, { type: 'invalid_request_error', code: null, param: null }),
    fault: (code, message, headers) => hinted(code, message, {}, headers),
  });
}

/** Every error of the /v1 routes is OpenAI's shape, a schema violation OpenAI's 400: spread into a route's `detail`. */
export const openAiErrors = errorFormat({ name: 'OpenAiError', schema: OpenAiError, statuses: { validation_error: 400 } });
