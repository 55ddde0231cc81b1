// Errors on /v1/messages as Anthropic's SDKs expect them (docs.anthropic.com/en/api/errors):
// `{type: "error", error: {type, message}}`. Everything is still thrown as an AppError and written
// once by the error handler, which writes it in this shape on these paths (anthropicErrorDialect).
// A schema violation is Anthropic's 400 `invalid_request_error` naming the field, not the
// contract's 422. An upstream's verdict on a request stays the client's (as on /v1/chat/completions,
// see upstreamVerdict), and `overloaded_error` (529) is answered only when upstream said it.
import { errorFormat } from '../../http/docs.ts';
import type { ErrorDialect } from '../../http/error-handler.ts';
import { AppError, type ErrorCode } from '../../http/errors.ts';
import { upstreamVerdict } from '../gateway/service.ts';
import type { GenerationFailure } from '../replies/service.ts';
import { AnthropicError } from './model.ts';

/** An Anthropic error's type and status other than the code's own; an AppError carries it in `details.anthropic`. */
export type AnthropicHint = { type: string; status?: number };

/** Each contract code as Anthropic types it, with the status it answers. */
const SHAPES: Record<ErrorCode, { status: number; type: string }> = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'request_too_large' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  range_not_satisfiable: { status: 416, type: 'invalid_request_error' },
  // Schema violations: Anthropic answers 400, not the contract's 422.
  validation_error: { status: 400, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  quota_exceeded: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'api_error' },
  upstream_error: { status: 502, type: 'api_error' },
  unavailable: { status: 503, type: 'api_error' },
};

/** A request field Parley refuses, as Anthropic's 400 naming it in its own notation (`messages.1.content.0: …`). */
export function badField(field: string, message: string): AppError {
  return new AppError('validation_error', `${field}: ${message}`, { details: { anthropic: { type: 'invalid_request_error' } } });
}

/** The unknown model, as Anthropic answers it (404 not_found_error `model: <id>`). */
export function modelNotFound(model: string, reason?: string): AppError {
  return new AppError('not_found', `model: ${model}${reason ? ` (${reason})` : ''}`, {
    details: { anthropic: { type: 'not_found_error' } },
  });
}

/** `body.messages.1.content.0` (the contract's field names) as Anthropic names the field: `messages.1.content.0`. */
const fieldName = (field: string) => field.replace(/^body\.?/, '') || 'body';

export type AnthropicErrorBody = { type: 'error'; error: { type: string; message: string } };

/** An AppError in Anthropic's shape, with the status Anthropic would answer. */
export function anthropicErrorOf(error: AppError): { status: number; body: AnthropicErrorBody } {
  const shape = SHAPES[error.code];
  const details = error.options.details as { anthropic?: AnthropicHint } | { field: string; message: string }[] | undefined;
  const fields = Array.isArray(details) ? details : [];
  const hint = Array.isArray(details) ? undefined : details?.anthropic;
  // A schema violation's summary says nothing ("Request validation failed"): name what failed.
  const message =
    fields.length && error.code === 'validation_error'
      ? fields.map((field) => `${fieldName(field.field)}: ${field.message}`).join('; ')
      : error.message;
  return { status: hint?.status ?? shape.status, body: { type: 'error', error: { type: hint?.type ?? shape.type, message } } };
}

/** The routes that answer in Anthropic's shape, for the error handler: /v1/messages and what is under it, named by `request-id` too. */
export const anthropicErrorDialect: ErrorDialect = {
  matches: (path) => path === '/v1/messages' || path.startsWith('/v1/messages/'),
  write: anthropicErrorOf,
  requestIdHeader: 'request-id',
};

/**
 * The AppError for a reply the provider failed, as /v1/messages answers it (see upstreamVerdict,
 * as /v1/chat/completions): upstream's refusal of the request is the client's 400, an unknown
 * model 404 `not_found_error`, a fault after Parley's retries 502, 503 or 429; upstream's own
 * 529 overloaded stays 529 `overloaded_error`. Undefined for a failure that is not the provider's.
 */
export function anthropicFailure(failure: GenerationFailure | undefined, model: string): AppError | undefined {
  return upstreamVerdict(failure, {
    notFound: (message) => modelNotFound(model, message),
    refused: (message) => new AppError('validation_error', message),
    fault: (code, message, headers) =>
      failure?.upstream?.status === 529
        ? new AppError('unavailable', message, { details: { anthropic: { type: 'overloaded_error', status: 529 } }, headers })
        : new AppError(code, message, { headers }),
  });
}

/** Every error of the /v1/messages routes is Anthropic's shape, a schema violation its 400: spread into a route's `detail`. */
export const anthropicErrors = errorFormat({ name: 'AnthropicError', schema: AnthropicError, statuses: { validation_error: 400 } });
