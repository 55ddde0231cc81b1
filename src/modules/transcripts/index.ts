import { Elysia } from 'elysia';
import { mayFail, noContent } from '../../http/docs.ts';
import { page } from '../../http/pagination.ts';
import { type CallerLimit, callerSubject } from '../../http/rate-limit.ts';
import type { RouteBundle } from '../../http/routes.ts';
import {
  CreateTranscriptBody,
  GetTranscriptQuery,
  ListTranscriptsQuery,
  SearchTranscriptsQuery,
  Transcript,
  TranscriptParams,
  TranscriptSearchResults,
  TranscriptSummary,
  UpdateTranscriptBody,
} from './model.ts';
import type { TranscriptsService } from './service.ts';

const tags = ['Transcripts'];
const text = { schema: { type: 'string' } };
const readResponses = {
  200: {
    description:
      'The transcript as JSON; with `?format=md` or `?format=txt` a download (Content-Disposition: attachment, with the title as the file name)',
    content: { 'application/json': { schema: Transcript }, 'text/markdown': text, 'text/plain': text },
  },
} as never;

export type TranscriptsModuleDeps = { transcripts: TranscriptsService; routes: RouteBundle; searchLimit: CallerLimit };

/** Transcripts: frozen, shareable records of a conversation (API.md "Transcripts"). */
export function transcriptsModule({ transcripts, routes, searchLimit }: TranscriptsModuleDeps) {
  return new Elysia({ name: 'transcripts', prefix: '/api/v1/transcripts' })
    .use(routes.api())
    .get('/', ({ caller, query }) => transcripts.list(caller.user.id, query), {
      auth: true,
      query: ListTranscriptsQuery,
      response: { 200: page(TranscriptSummary) },
      detail: { tags, summary: 'The caller’s transcripts, newest first (without their messages)' },
    })
    .post(
      '/',
      async ({ caller, body, set }) => {
        set.status = 201;
        return transcripts.create(caller.user.id, body);
      },
      {
        auth: true,
        idempotent: true,
        body: CreateTranscriptBody,
        response: { 201: Transcript },
        detail: {
          tags,
          summary: 'Freeze a chat’s active path (or the path through `branch`) as a transcript',
          description:
            'Copies each message’s role, content, provider, model, time and attachments’ names: later edits, regenerations or deleting the chat change nothing here. A reply still being generated is left out. Another user’s chat, or a `branch` not in the chat, is 404.',
          ...mayFail('not_found'),
        },
      },
    )
    .get(
      '/search',
      async ({ caller, ip, query, set }) => {
        await searchLimit.consume(callerSubject(caller.user, ip), set.headers);
        return transcripts.search(caller.user.id, query);
      },
      {
        auth: true,
        query: SearchTranscriptsQuery,
        response: { 200: TranscriptSearchResults },
        detail: {
          tags,
          summary: 'Full-text search over the caller’s transcripts (titles and messages), with snippets and the matched words marked',
          description:
            'Up to 3 matches per transcript (the title first). Shares the SEARCH_RATE_LIMIT_PER_MINUTE budget with chat search, on top of the general limit.',
        },
      },
    )
    .get(
      '/:id',
      async ({ caller, params, query }) => {
        const format = query.format ?? 'json';
        if (format === 'json') return transcripts.get(caller.user, params.id);
        const file = await transcripts.download(caller.user, params.id, format);
        return new Response(file.body, {
          headers: { 'content-type': file.contentType, 'content-disposition': file.contentDisposition },
        });
      },
      {
        auth: true,
        params: TranscriptParams,
        query: GetTranscriptQuery,
        detail: {
          tags,
          summary: 'A transcript with its messages, as JSON, Markdown or plain text',
          description: 'Read through the cache, for as long as TRANSCRIPT_CACHE_TTL allows the caller’s tier; a change drops it at once.',
          responses: readResponses,
        },
      },
    )
    .patch('/:id', ({ caller, params, body }) => transcripts.update(caller.user.id, params.id, body), {
      auth: true,
      params: TranscriptParams,
      body: UpdateTranscriptBody,
      response: { 200: TranscriptSummary },
      detail: { tags, summary: 'Change a transcript’s title, notes (null clears them) or tags; its messages never change' },
    })
    .delete(
      '/:id',
      async ({ caller, params, set }) => {
        await transcripts.remove(caller.user.id, params.id);
        set.status = 204;
      },
      { auth: true, params: TranscriptParams, detail: { tags, summary: 'Delete a transcript', responses: noContent } },
    );
}
