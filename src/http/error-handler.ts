import { Elysia, type ValidationError } from 'elysia';
import { rootCause } from '../infra/db/errors.ts';
import type { Logger } from '../infra/log/index.ts';
import { AppError, errorStatus, invalid, invalidFields, knownError } from './errors.ts';
import { requestInfo } from './request-context.ts';

type FieldError = { field: string; message: string };

/**
 * How the routes of an API Parley imitates write errors (the OpenAI-compatible /v1): for a path
 * it `matches`, the AppError as that API's body and the status that API would answer.
 */
export type ErrorDialect = {
  matches: (path: string) => boolean;
  write: (error: AppError) => { status: number; body: unknown };
  /** A header that API names the response by, given the request id too (Anthropic's `request-id`). */
  requestIdHeader?: string;
};

/**
 * The one place that writes error bodies: AppError as thrown, images a model cannot take
 * (ModelCannotTakeImagesError) as 422 `validation_error`, an infrastructure outage as 503
 * `unavailable` (errors.ts, unavailableFrom), Elysia's own errors mapped, the rest 500; on a
 * path of one of `dialects` (the first that matches), in that API's shape instead.
 */
export function errorHandler(log: Logger, dialects: readonly ErrorDialect[] = []) {
  return new Elysia({ name: 'error-handler' }).onError({ as: 'global' }, ({ code, error, request, set, path }) => {
    const requestId = requestInfo(request)?.id;
    const dialect = dialects.find((candidate) => candidate.matches(path));
    const write = (appError: AppError) => {
      if (!dialect) return appError.toBody(requestId);
      if (dialect.requestIdHeader && requestId) set.headers[dialect.requestIdHeader] = requestId;
      const written = dialect.write(appError);
      set.status = written.status;
      return written.body;
    };
    const fail = (appError: AppError) => {
      set.status = appError.status;
      Object.assign(set.headers, appError.options.headers ?? {});
      // Deliberate 5xx too (an upstream that failed, a store that is down): each names its request.
      if (appError.status >= 500) {
        const cause = rootCause(appError.options.cause);
        log.warn('request failed', {
          requestId,
          route: path,
          status: appError.status,
          code: appError.code,
          error: appError.message,
          ...(cause ? { cause } : {}),
        });
      }
      return write(appError);
    };
    // Checked by class (Elysia reads an error's own `code` field as its code): our errors, images a
    // model cannot take (422), the KV, database or storage unreachable (503 with Retry-After).
    const known = knownError(error);
    if (known) return fail(known);
    switch (code) {
      case 'PARSE':
        // Only upload routes get this far with a form (request-log.ts refuses it elsewhere).
        if (/^multipart\//i.test(request.headers.get('content-type') ?? '')) {
          return fail(invalid('body', 'is not a readable multipart/form-data body', 'The upload could not be read as multipart/form-data'));
        }
        return fail(new AppError('invalid_json', 'The request body is not valid JSON'));
      case 'NOT_FOUND':
        return fail(new AppError('not_found', `No route for ${request.method} ${path}`));
      case 'INVALID_FILE_TYPE':
        return fail(new AppError('unsupported_media_type', error.message));
      case 'VALIDATION':
        if (error.type !== 'response') {
          return fail(invalidFields(fieldErrors(error)));
        }
    }
    const status = 'status' in error && typeof error.status === 'number' ? error.status : 500;
    if (status < 500 && status >= 400) {
      const known = Object.entries(errorStatus).find(([, value]) => value === status);
      if (known) return fail(new AppError(known[0] as keyof typeof errorStatus, (error as Error).message || known[0]));
    }
    log.error('unhandled error', { requestId, route: path, code, error });
    set.status = 500;
    return write(new AppError('internal_error', 'Internal server error'));
  });
}

function fieldErrors(error: Pick<ValidationError, 'type' | 'all' | 'validator'>): FieldError[] {
  const seen = new Set<string>();
  const fields: FieldError[] = [];
  for (const issue of error.all) {
    const path = 'path' in issue && typeof issue.path === 'string' ? issue.path : '';
    // A query integer out of range comes as a `property` error on its own schema (see queryInteger).
    const named = error.type === 'property' ? (error.validator as { 'x-field'?: string } | undefined)?.['x-field'] : undefined;
    const field = named ?? `${error.type}${path.replaceAll('/', '.')}`;
    const message = 'message' in issue && typeof issue.message === 'string' ? issue.message : 'is invalid';
    const key = `${field}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fields.push({ field, message });
  }
  return fields;
}
