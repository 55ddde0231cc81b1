// The OpenAPI document as @elysiajs/openapi generates it, made valid and complete: what the plugin
// cannot know about this server is added here, once, from what each operation already says.
// - the websocket route (method `ws`, which OpenAPI has not) becomes a GET answering 101;
// - every operation lists the errors it can answer, each a shared response with the `ErrorBody`
//   schema, derived from its options: `x-access` (auth) → 401/403, a path id → 404, a body →
//   400/413/415/422, parameters → 422, Idempotency-Key (`x-idempotent`) → 409, the API's rate
//   limit → 429, its storage → 503, plus what the route names itself (`x-errors`, see
//   http/docs.ts), and 500 everywhere; an operation of an API Parley imitates names that API's
//   error schema and statuses (`x-error-format`, see http/docs.ts) and its errors use them;
// - public operations say `security: []`;
// - integers are integers: Elysia's query coercion (`anyOf: [{type: string, format: integer},
//   {type: integer}]`, also for numbers and booleans) is shown as the type it coerces to;
// - request bodies advertise only what the server takes (request-log.ts refuses anything but
//   JSON with 415; multipart only where a route takes files), never x-www-form-urlencoded;
// - paths lose trailing slashes, operationIds are camelCase and unique, every tag is declared.
import type { ErrorFormat } from '../../http/docs.ts';
import { type ErrorCode, errorStatus } from '../../http/errors.ts';
import { maxJsonDepth } from '../../http/input-check.ts';

type Json = Record<string, unknown>;
type Operation = Json & {
  tags?: string[];
  operationId?: string;
  parameters?: Json[];
  requestBody?: { content?: Record<string, { schema?: unknown }> } & Json;
  responses?: Record<string, Json>;
  security?: Json[];
  'x-access'?: string;
  'x-errors'?: ErrorCode[];
  'x-idempotent'?: string;
  'x-error-format'?: ErrorFormat;
};
type PathItem = Record<string, Operation>;
export type OpenApiDocument = Json & {
  paths: Record<string, PathItem>;
  tags?: { name: string; description?: string }[];
  components?: Json & { schemas?: Json; responses?: Json; headers?: Json };
};

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The contract's error body (http/errors.ts), as a schema. */
export const errorBodySchema = {
  type: 'object',
  description: 'Every error of the API has this shape; the status and `error.code` always match.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(errorStatus), description: 'Stable and machine-readable; one per status' },
        message: { type: 'string', description: 'For people; may change' },
        details: { description: 'More about what was wrong; for validation_error, a list of {field, message} (e.g. body.email)' },
        requestId: { type: 'string', description: 'Names the request in the server’s log; also in the X-Request-Id header' },
      },
    },
  },
};

const header = (description: string, type: 'integer' | 'string' = 'integer') => ({ description, schema: { type } });
const headers = {
  RetryAfter: header('Seconds to wait before trying again'),
  RateLimitLimit: header('Requests allowed in the window'),
  RateLimitRemaining: header('Requests left in the window'),
  RateLimitReset: header('Seconds until the window resets'),
};
const ref = (kind: 'schemas' | 'responses' | 'headers', name: string) => ({ $ref: `#/components/${kind}/${name}` });

/** One shared response per error code, named and described. */
const errorResponses: Record<ErrorCode, { name: string; description: string; headers?: (keyof typeof headers)[] }> = {
  invalid_json: { name: 'InvalidJson', description: 'invalid_json: the body is not valid JSON' },
  unauthorized: { name: 'Unauthorized', description: 'unauthorized: no credentials, or a bad, expired or revoked one' },
  forbidden: {
    name: 'Forbidden',
    description: 'forbidden: these credentials may not do this (a guest on a member route, a member on an admin route, a disabled account)',
  },
  not_found: { name: 'NotFound', description: 'not_found: no such resource, or not the caller’s (which is never revealed)' },
  conflict: { name: 'Conflict', description: 'conflict: the resource is not in a state that allows this' },
  payload_too_large: {
    name: 'PayloadTooLarge',
    description:
      'payload_too_large: JSON bodies are limited to 1 MiB; an uploaded file to MAX_FILE_SIZE bytes (audio also to MAX_AUDIO_SECONDS), an upload to MAX_FILES_PER_UPLOAD files, and a user’s files together to their tier’s storage quota',
  },
  unsupported_media_type: {
    name: 'UnsupportedMediaType',
    description:
      'unsupported_media_type: send Content-Type: application/json (or application/…+json), as UTF-8; uploads: multipart/form-data, with a file of an allowed type (judged by its content)',
  },
  range_not_satisfiable: {
    name: 'RangeNotSatisfiable',
    description: 'range_not_satisfiable: the Range asked for lies outside the file; Content-Range says its size',
  },
  validation_error: {
    name: 'ValidationError',
    description:
      'validation_error: `details` names each field that is missing or invalid. On every route (and websocket frame) that includes ' +
      `any string or key holding U+0000 or a lone UTF-16 surrogate, and JSON nested deeper than ${maxJsonDepth} levels`,
  },
  // Both are 429 and share one response; listed first, this entry is overwritten by rate_limited's.
  quota_exceeded: { name: 'RateLimited', description: 'quota_exceeded: the monthly token budget is spent' },
  rate_limited: {
    name: 'RateLimited',
    description:
      'rate_limited: too many requests (or, for a reply, as many replies generating at once as the caller’s tier allows); retry after Retry-After seconds. Or quota_exceeded: the monthly token budget of the caller’s tier is spent; Retry-After runs to the 1st of next month (UTC)',
    headers: ['RetryAfter', 'RateLimitLimit', 'RateLimitRemaining', 'RateLimitReset'],
  },
  internal_error: { name: 'InternalError', description: 'internal_error: a fault of the server (no internals shown; requestId names it)' },
  upstream_error: { name: 'UpstreamError', description: 'upstream_error: the model provider (or the speech server) failed' },
  unavailable: {
    name: 'Unavailable',
    description:
      'unavailable: a dependency is down or not configured (database, key-value store, a provider); Retry-After where a retry can help',
    headers: ['RetryAfter'],
  },
};

const headerNames: Record<keyof typeof headers, string> = {
  RetryAfter: 'Retry-After',
  RateLimitLimit: 'RateLimit-Limit',
  RateLimitRemaining: 'RateLimit-Remaining',
  RateLimitReset: 'RateLimit-Reset',
};

function errorResponseComponents() {
  const responses: Json = {};
  for (const [code, { name, description, headers: names }] of Object.entries(errorResponses)) {
    responses[name] = {
      description,
      ...(names ? { headers: Object.fromEntries(names.map((h) => [headerNames[h], ref('headers', h)])) } : {}),
      content: {
        'application/json': {
          schema: ref('schemas', 'ErrorBody'),
          example: {
            error: { code, message: description.slice(description.indexOf(':') + 2), requestId: 'b4f0c2de-7d1e-4c55-9d4e-3f2a1c0b9e87' },
          },
        },
      },
    };
  }
  return responses;
}

/**
 * An operation's error responses in another API's shape (`format`): one response per status,
 * its description the codes that answer it, its schema the format's; Retry-After where it applies.
 */
function formattedErrorResponses(codes: ErrorCode[], format: ErrorFormat): Record<string, Json> {
  const byStatus = new Map<string, ErrorCode[]>();
  for (const code of codes) {
    const status = String(format.statuses?.[code] ?? errorStatus[code]);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, Json> = {};
  for (const [status, shared] of byStatus) {
    const names = [...new Set(shared.flatMap((code) => errorResponses[code].headers ?? []))];
    responses[status] = {
      description: shared.map((code) => errorResponses[code].description).join(' Or '),
      ...(names.length ? { headers: Object.fromEntries(names.map((h) => [headerNames[h], ref('headers', h)])) } : {}),
      content: { 'application/json': { schema: ref('schemas', format.name) } },
    };
  }
  return responses;
}

/** The routes behind the API's general per-IP limit and its storage (http/routes.ts `api()` and `credentials()`). */
const isApiRoute = (path: string) => (path.startsWith('/api/v1/') || path.startsWith('/v1/')) && !path.startsWith('/api/v1/health/');

/** The errors an operation can answer, from what it says of itself. */
export function errorsOf(path: string, operation: Operation, { websocket = false } = {}): ErrorCode[] {
  const codes = new Set<ErrorCode>();
  if (operation['x-access']) codes.add('unauthorized').add('forbidden');
  if (operation.requestBody) codes.add('invalid_json').add('payload_too_large').add('unsupported_media_type').add('validation_error');
  if (operation.parameters?.length) codes.add('validation_error');
  // Idempotency-Key (http/idempotency.ts): a repeat while the first still runs is 409.
  if (operation['x-idempotent']) codes.add('conflict');
  if (path.includes('{')) codes.add('not_found');
  // A websocket has no general limit; what fails after the upgrade is told with close codes.
  if (isApiRoute(path) && !websocket) codes.add('rate_limited').add('unavailable');
  for (const code of operation['x-errors'] ?? []) codes.add(code);
  codes.add('internal_error');
  return [...codes].sort((a, b) => errorStatus[a] - errorStatus[b]);
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a coerced string format stands for (Elysia's t.Integer, t.Numeric, t.BooleanString). */
const coercedFormats: Record<string, string> = { integer: 'integer', numeric: 'number', boolean: 'boolean' };

/** `anyOf: [{type: string, format: integer}, {type: integer, …}]` → `{type: integer, …}`, everywhere. */
function collapseCoercions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(collapseCoercions);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = collapseCoercions(value);
  const anyOf = out.anyOf;
  if (Array.isArray(anyOf) && anyOf.length === 2 && anyOf.every(isObject)) {
    const text = anyOf.find((s) => s.type === 'string' && typeof s.format === 'string' && s.format in coercedFormats);
    const real = text && anyOf.find((s) => s !== text && s.type === coercedFormats[text.format as string]);
    if (real) {
      const { anyOf: _, ...rest } = out;
      return { ...rest, ...real };
    }
  }
  return out;
}

const containsBinary = (node: unknown): boolean =>
  Array.isArray(node)
    ? node.some(containsBinary)
    : isObject(node) && (node.format === 'binary' || Object.values(node).some(containsBinary));

/** A file field without the `default: "File"` Elysia's t.File writes into it (a file has no default). */
function withoutFileDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutFileDefaults);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default' && value === 'File' && node.format === 'binary') continue;
    out[key] = withoutFileDefaults(value);
  }
  return out;
}

/** JSON only, unless the body carries files (then multipart only); never x-www-form-urlencoded. */
function acceptedContent(content: Record<string, { schema?: unknown }>): Record<string, { schema?: unknown }> {
  const multipart = content['multipart/form-data'];
  if (multipart && (!content['application/json'] || containsBinary(multipart.schema))) {
    return { 'multipart/form-data': { ...multipart, schema: withoutFileDefaults(multipart.schema) } };
  }
  const json = content['application/json'] ?? Object.values(content)[0];
  return json ? { 'application/json': json } : {};
}

const camelCase = (id: string) => id.replace(/[-_.\s]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/[^a-zA-Z0-9]/g, '');

/** A websocket route (Elysia lists it with method `ws`) as the GET that upgrades. */
function websocketOperation(operation: Operation): Operation {
  return {
    ...operation,
    description: [
      operation.description,
      'Open with a GET carrying the websocket upgrade headers (a plain GET is not answered as a websocket).',
    ]
      .filter(Boolean)
      .join('\n\n'),
    security: operation.security ?? [],
    responses: {
      101: { description: 'Switching Protocols: the connection is now a websocket speaking the frames described above' },
      ...operation.responses,
    },
  };
}

/** The finished document; the input (the plugin's cached object) is left as it was. */
export function completeDocument(generated: OpenApiDocument): OpenApiDocument {
  const doc = collapseCoercions(structuredClone(generated)) as OpenApiDocument;
  const paths: Record<string, PathItem> = {};
  const operationIds = new Set<string>();
  const usedTags = new Set<string>();
  // The error schemas of the APIs Parley imitates, as their operations name them.
  const errorSchemas: Json = {};

  for (const [rawPath, item] of Object.entries(doc.paths ?? {})) {
    const path = rawPath.length > 1 ? rawPath.replace(/\/+$/, '') : rawPath;
    const target = (paths[path] ??= {});
    for (const [key, value] of Object.entries(item)) {
      const websocket = key === 'ws';
      const method = websocket ? 'get' : key;
      const operation = websocket ? websocketOperation(value) : value;
      if (!methods.includes(method) || !isObject(operation)) {
        target[key] = value;
        continue;
      }
      if (target[method]) continue; // `/x/` and `/x` are one route to clients: the first wins.

      operation.security ??= [];
      if (operation.requestBody?.content) operation.requestBody.content = acceptedContent(operation.requestBody.content);
      const responses = (operation.responses ??= {});
      const format = operation['x-error-format'];
      if (format) {
        errorSchemas[format.name] = format.schema;
        for (const [status, response] of Object.entries(formattedErrorResponses(errorsOf(path, operation, { websocket }), format))) {
          responses[status] ??= response;
        }
        delete operation['x-error-format'];
      } else {
        for (const code of errorsOf(path, operation, { websocket })) {
          const status = String(errorStatus[code]);
          responses[status] ??= ref('responses', errorResponses[code].name);
        }
      }
      delete operation['x-errors'];

      const base = camelCase(operation.operationId ?? `${method}${path}`);
      let id = base;
      for (let n = 2; operationIds.has(id); n++) id = `${base}${n}`;
      operationIds.add(id);
      operation.operationId = id;
      for (const tag of operation.tags ?? []) usedTags.add(tag);
      target[method] = operation;
    }
  }
  doc.paths = paths;

  const declared = new Set((doc.tags ?? []).map((tag) => tag.name));
  doc.tags = [...(doc.tags ?? []), ...[...usedTags].filter((name) => !declared.has(name)).map((name) => ({ name }))];
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, ErrorBody: errorBodySchema, ...errorSchemas },
    responses: { ...doc.components?.responses, ...errorResponseComponents() },
    headers: { ...doc.components?.headers, ...headers },
  };
  return doc;
}
