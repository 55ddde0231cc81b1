import { Elysia, t } from 'elysia';
import { mayFail, noContent } from '../../http/docs.ts';
import { PageQuery } from '../../http/pagination.ts';
import { type CallerLimit, callerSubject } from '../../http/rate-limit.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { Analysis, AnalyzeBody, FileInfo, FileList, FileParams, UploadedFiles, uploadRequestBody } from './model.ts';
import type { FilesService } from './service.ts';

const tags = ['Files'];
const prefix = '/api/v1/files';

/** The routes whose multipart bodies the request guard leaves to be streamed (http/request-log.ts). */
export const uploadPaths = [`${prefix}/upload`, `${prefix}/upload-multiple`];

const uploadDescription =
  'Streamed to storage as it arrives. The type is judged from the content: PNG, JPEG, GIF and WebP images; PDF; docx, xlsx and pptx; ' +
  'MP3, WAV, Ogg, WebM, M4A/MP4 and FLAC audio; and UTF-8 text sent as text (by type or extension: plain, Markdown, CSV, JSON, source code). ' +
  'Anything else is 415. A file over MAX_FILE_SIZE, or past the storage quota of the caller’s tier, is 413 as soon as it passes it; nothing of a refused upload is kept. ' +
  'Limited per user (guests per IP) to UPLOAD_RATE_LIMIT_PER_HOUR uploads an hour, on top of the general limit. ' +
  'With Idempotency-Key, a repeat gets the first answer whatever file it carries: the body is streamed, not read before the key is looked up.';
const downloadResponses = {
  200: {
    description:
      'The file, with its stored Content-Type, Content-Disposition: attachment (RFC 6266 filename and filename*), ETag (its sha256), Accept-Ranges and Content-Length',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  },
  206: {
    description: 'One byte range of the file (Range: bytes=start-end, start- or -suffix), with Content-Range',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  },
  304: { description: 'If-None-Match named the file’s ETag: it has not changed' },
};

export type FilesModuleDeps = { files: FilesService; routes: RouteBundle; uploadLimit: CallerLimit };

export function filesModule({ files, routes, uploadLimit }: FilesModuleDeps) {
  return (
    new Elysia({ name: 'files', prefix })
      .use(routes.api())
      // Bodies are not parsed by Elysia (`parse: 'none'`): the service streams them, part by part.
      .post(
        '/upload',
        async ({ caller, ip, request, set }) => {
          await uploadLimit.consume(callerSubject(caller.user, ip), set.headers);
          const [file] = await files.upload(caller.user, { body: request.body, contentType: request.headers.get('content-type') }, 'file');
          set.status = 201;
          return file!;
        },
        {
          auth: true,
          idempotent: true,
          parse: 'none',
          response: { 201: FileInfo },
          detail: {
            tags,
            summary: 'Upload one file (multipart field `file`)',
            description: uploadDescription,
            requestBody: uploadRequestBody('file', 'One part named `file`, with a filename'),
            ...mayFail('payload_too_large', 'unsupported_media_type', 'validation_error'),
          } as never,
        },
      )
      .post(
        '/upload-multiple',
        async ({ caller, ip, request, set }) => {
          await uploadLimit.consume(callerSubject(caller.user, ip), set.headers);
          const data = await files.upload(caller.user, { body: request.body, contentType: request.headers.get('content-type') }, 'files');
          set.status = 201;
          return { data };
        },
        {
          auth: true,
          idempotent: true,
          parse: 'none',
          response: { 201: UploadedFiles },
          detail: {
            tags,
            summary: 'Upload several files at once (multipart field `files`, up to MAX_FILES_PER_UPLOAD); all are kept or none',
            description: uploadDescription,
            requestBody: uploadRequestBody('files', 'One part named `files` per file, each with a filename'),
            ...mayFail('payload_too_large', 'unsupported_media_type', 'validation_error'),
          } as never,
        },
      )
      .get('/', ({ caller, query }) => files.list(caller.user.id, query), {
        auth: true,
        query: PageQuery,
        response: { 200: FileList },
        detail: { tags, summary: 'The caller’s files, newest first' },
      })
      .get('/:id', ({ caller, params }) => files.info(caller.user.id, params.id), {
        auth: true,
        params: FileParams,
        response: { 200: FileInfo },
        detail: { tags, summary: 'One file’s details' },
      })
      .get(
        '/:id/content',
        ({ caller, params, request }) =>
          files.content(caller.user.id, params.id, {
            range: request.headers.get('range'),
            ifNoneMatch: request.headers.get('if-none-match'),
            ifRange: request.headers.get('if-range'),
          }),
        {
          auth: true,
          params: FileParams,
          detail: {
            tags,
            summary: 'Download a file: whole, or one byte range; conditional on its ETag',
            description:
              'Streamed from storage. `Range: bytes=…` (one range) answers 206, a range past the end 416; `If-None-Match` with the ETag answers 304; `If-Range` with another ETag sends the whole file.',
            responses: downloadResponses,
            ...mayFail('range_not_satisfiable'),
          } as never,
        },
      )
      .post(
        '/:id/analyze',
        async ({ caller, ip, params, body, request }) => {
          const asked = body ?? {};
          const sse = asked.stream ?? request.headers.get('accept')?.includes('text/event-stream') ?? false;
          return sse ? files.analysis.stream(caller, ip, params.id, asked) : files.analysis.complete(caller, ip, params.id, asked);
        },
        {
          auth: true,
          params: FileParams,
          body: t.Optional(AnalyzeBody),
          // No response schema: JSON (Analysis) or an SSE stream.
          detail: {
            tags,
            summary: 'Ask a model about one of your files; JSON, or SSE with `stream: true` / `Accept: text/event-stream`',
            description:
              'The file’s text (plain, Markdown, JSON, CSV, code, PDF, DOCX) is extracted within CONTEXT_TOKEN_BUDGET and sent with the prompt; ' +
              'an image goes to a vision-capable model as an image part (422 for a model that cannot take images). ' +
              'Answered through the reply engine: counted against the caller’s LLM limits and in their usage, streamed like a reply when asked. ' +
              '`notes` says what of the file the model did not see.',
            responses: {
              200: {
                description: 'The analysis, or a text/event-stream of start, delta…, then done or error events',
                content: { 'application/json': { schema: Analysis }, 'text/event-stream': { schema: { type: 'string' } } },
              },
            },
            ...mayFail('validation_error', 'rate_limited', 'upstream_error'),
          } as never,
        },
      )
      .delete(
        '/:id',
        async ({ caller, params, set }) => {
          await files.remove(caller.user.id, params.id);
          set.status = 204;
        },
        {
          auth: true,
          params: FileParams,
          detail: {
            tags,
            summary: 'Delete a file and its bytes; 409 while a message carries it (delete that chat to free it)',
            responses: noContent,
            ...mayFail('conflict'),
          },
        },
      )
  );
}
