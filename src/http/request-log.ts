import { Elysia } from 'elysia';
import type { Logger } from '../infra/log/index.ts';
import { enforceBodyLimit } from './body-limit.ts';
import { AppError } from './errors.ts';
import { assertFitInput, jsonDepthScanner } from './input-check.ts';
import type { Metrics } from './metrics.ts';
import { requestInfo, startRequest } from './request-context.ts';
import { streamSettled } from './sse.ts';

/** `application/json` or `application/<anything>+json`, with a UTF-8 charset if it names one (the body is read as UTF-8). */
const jsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const charsetParameter = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

export function isJsonType(type: string | null): boolean {
  if (!type || !jsonType.test(type)) return false;
  const charset = charsetParameter.exec(type)?.[1];
  return charset === undefined || /^utf-?8$/i.test(charset);
}

const invalidJson = () => new AppError('invalid_json', 'The request body is not valid JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalidJson();
  }
}

/** JSON's insignificant whitespace (RFC 8259 §2): space, tab, line feed, carriage return. */
const isJsonWhitespace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/** `multipart/form-data`, whatever its parameters: the one body type upload routes take. */
export const isMultipartType = (type: string | null): boolean => !!type && /^multipart\/form-data\s*(?:;|$)/i.test(type);

/**
 * A route that takes multipart uploads (POST, exact path; a trailing slash is the same route): the
 * most bytes one request may hold. A `streamed` route parses its body as a stream and counts each
 * file itself, so its body is left unread here (a tee would buffer what the route has not read
 * yet) and only a declared Content-Length is checked; any other is counted here as it arrives.
 */
export type UploadRoute = { maxBytes: number; streamed?: boolean };

export type RequestGuardOptions = {
  log: Logger;
  metrics: Metrics;
  maxJsonBytes: number;
  /** The upload routes by path; only they take `multipart/form-data`. */
  uploads?: ReadonlyMap<string, UploadRoute>;
};

/**
 * Global request plumbing: the request id (echoed or made), security headers, body type and
 * size checks before routing (the size counted as the bytes arrive, whatever the framing: see
 * body-limit.ts), and one JSON access-log line per request. The
 * line names the caller by id only: never a token, password or key.
 */
export function requestGuard({ log, metrics, maxJsonBytes, uploads = new Map() }: RequestGuardOptions) {
  const uploadRouteOf = (request: Request) => (uploads.size ? uploads.get(new URL(request.url).pathname.replace(/\/+$/, '')) : undefined);
  return (
    new Elysia({ name: 'request-guard' })
      .onRequest(async ({ request, set }) => {
        const info = startRequest(request);
        set.headers['x-request-id'] = info.id;
        set.headers['x-content-type-options'] = 'nosniff';
        set.headers['x-frame-options'] = 'DENY';
        set.headers['referrer-policy'] = 'no-referrer';
        if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return;
        if (request.body === null) return;
        const type = request.headers.get('content-type');
        const upload = uploadRouteOf(request);
        if (upload && request.method === 'POST' && isMultipartType(type)) {
          if (upload.streamed) {
            const declared = request.headers.get('content-length');
            if (declared !== null && Number(declared) > upload.maxBytes)
              throw new AppError('payload_too_large', `An upload is limited to ${upload.maxBytes} bytes`);
          } else {
            await enforceBodyLimit(
              request,
              upload.maxBytes,
              `Uploads to this route are limited to ${upload.maxBytes} bytes in all: files of MAX_FILE_SIZE bytes, and their form`,
            );
          }
          return;
        }
        // Every other route takes JSON (so do upload routes, to refuse it after auth): anything else is
        // 415. Limits hold however the body is framed: Content-Length or chunked, counted as it arrives.
        if (!isJsonType(type)) {
          throw new AppError(
            'unsupported_media_type',
            upload ? 'Upload files as multipart/form-data' : 'Send JSON as UTF-8 (Content-Type: application/json or application/*+json)',
          );
        }
        // The depth limit is checked on the bytes too, so that deep JSON is never parsed at all;
        // whether the body holds more than whitespace is noted for the transform below.
        const scanDepth = jsonDepthScanner('body');
        await enforceBodyLimit(request, maxJsonBytes, `JSON bodies are limited to ${maxJsonBytes} bytes`, (chunk) => {
          scanDepth(chunk);
          if (!info.hasJsonBody && chunk.some((byte) => !isJsonWhitespace(byte))) info.hasJsonBody = true;
        });
      })
      // Before any schema, handler or store sees them (see input-check.ts): no U+0000 or lone
      // surrogate in a string or key (Postgres cannot hold either), no nesting past the depth limit.
      .onTransform({ as: 'global' }, async (context) => {
        // Elysia parses the spellings of JSON whose subtype starts `json` (`application/json`, …);
        // the others let through above (`application/vnd.api+json`, `Application/JSON`) are read
        // here. No parse hook: one would empty the OpenAPI document's request content types.
        const { request } = context;
        if (context.body === undefined && request.body !== null && isJsonType(request.headers.get('content-type'))) {
          if (!request.bodyUsed) {
            const text = await request.text();
            if (text.trim() !== '') context.body = parseJson(text);
          } else if (requestInfo(request)?.hasJsonBody) {
            // Elysia read a body it could not parse and, on a route whose body is optional, took it
            // for "no body": refused (400) like on every other route, before anything runs on a guess.
            throw invalidJson();
          }
        }
        assertFitInput(context.params, 'params');
        assertFitInput(context.query, 'query');
        assertFitInput(context.body, 'body');
      })
      .onAfterResponse({ as: 'global' }, ({ request, set, route, responseValue }) => {
        const info = requestInfo(request);
        const status = responseValue instanceof Response ? responseValue.status : Number(set.status ?? 200);
        const record = () => {
          const elapsedMs = info ? performance.now() - info.startedAt : 0;
          metrics.observeRequest(request.method, route || 'unmatched', status, elapsedMs / 1000);
          log.info('request', {
            requestId: info?.id,
            method: request.method,
            route: route || 'unmatched',
            status,
            durationMs: Math.round(elapsedMs * 100) / 100,
            userId: info?.userId,
          });
        };
        // A streamed response is logged and timed when its stream ends, not when its headers leave.
        const streaming = streamSettled(responseValue);
        if (streaming) void streaming.then(record);
        else record();
      })
  );
}
