import { limitTier } from '../../config/index.ts';
import { notFound } from '../../http/errors.ts';
import { badCursor, decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import { decodeSearchCursor, encodeSearchCursor } from '../../infra/db/fulltext.ts';
import type { Infra } from '../../infra/index.ts';
import type { ChatsService } from '../chats/service.ts';
import { type CachedTranscript, createTranscriptCaches } from './caches.ts';
import type { Transcript, TranscriptFormat, TranscriptSearchResults, TranscriptSummary } from './model.ts';
import { type Download, download } from './render.ts';
import { createTranscriptsRepository, type NewTranscriptMessage, type TranscriptMessageRow, type TranscriptRow } from './repository.ts';
import { createTranscriptSearch } from './search.ts';

/** A message of a chat's path, as the chats service gives it. */
type PathMessage = Awaited<ReturnType<ChatsService['path']>>['messages'][number];

/** Who reads: their id, and the role and tier that pick how long their reads stay cached. */
export type TranscriptReader = { id: string; role: string; tier: string };

const fallbackTitle = 'Untitled chat';

function toSummary(row: TranscriptRow): TranscriptSummary {
  return {
    id: row.id,
    chatId: row.chatId,
    branch: row.branch,
    title: row.title,
    notes: row.notes,
    tags: row.tags,
    messageCount: row.messageCount,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toTranscript(row: TranscriptRow, messages: TranscriptMessageRow[]): Transcript {
  return {
    ...toSummary(row),
    messages: messages.map((message) => ({
      position: message.position,
      messageId: message.messageId,
      role: message.role,
      content: message.content,
      provider: message.provider,
      model: message.model,
      attachments: message.attachments,
      createdAt: message.createdAt.toISOString(),
    })),
  };
}

/**
 * A message's text as a transcript keeps it: a reply that called tools names each call on a line
 * of its own after its text (`→ get_weather({"city":"Paris"})`); a `tool` message's text is its results already.
 */
const withToolCalls = (message: PathMessage): string => {
  const calls = (message.toolCalls ?? []).map((call) => `→ ${call.name}(${call.arguments})`);
  return [message.content, ...calls].filter(Boolean).join('\n');
};

/** Tags trimmed, each kept once (first seen first). */
const uniqueTags = (tags: string[]) => [...new Set(tags.map((tag) => tag.trim()).filter(Boolean))];

/**
 * Transcripts: frozen copies of a path through a chat, the owner's only (another user's is a 404
 * on every route). Reads of one go through the cache (caches.ts); every change drops it everywhere.
 */
export function createTranscriptsService(infra: Infra, deps: { chats: ChatsService }) {
  const transcripts = createTranscriptsRepository(infra.db);
  const search = createTranscriptSearch(infra.db);
  const caches = createTranscriptCaches(infra);

  /** The transcript with its messages, from the database; a 404 when there is none (nothing is cached for it). */
  const load = async (id: string): Promise<CachedTranscript> => {
    const row = await transcripts.find(id);
    if (!row) throw notFound('Transcript');
    return { userId: row.userId, transcript: toTranscript(row, await transcripts.messages(id)) };
  };

  /** The row, when it is `userId`'s; otherwise the 404 of one that does not exist. */
  const own = async (userId: string, id: string): Promise<TranscriptRow> => {
    const row = await transcripts.find(id);
    if (!row || row.userId !== userId) throw notFound('Transcript');
    return row;
  };

  return {
    /**
     * Freezes the active path of the owner's chat (or, with `branch`, the path through that
     * message) with each message's attachments' names. A reply still being generated is left out:
     * only stored text is frozen. 404 for another user's chat or a message not in it.
     */
    async create(userId: string, input: { chatId: string; title?: string; branch?: string }): Promise<Transcript> {
      const { chat, messages } = await deps.chats.path(userId, input.chatId, input.branch);
      const kept = messages.filter((message) => message.status !== 'streaming');
      const names = await transcripts.attachmentNames(kept.map((message) => message.id));
      const frozen: NewTranscriptMessage[] = kept.map((message, position) => ({
        position,
        messageId: message.id,
        role: message.role,
        content: withToolCalls(message),
        provider: message.provider,
        model: message.model,
        attachments: names.get(message.id) ?? [],
        createdAt: new Date(message.createdAt),
      }));
      const id = Bun.randomUUIDv7();
      const row = await infra.db.transaction((tx) =>
        transcripts
          .with(tx)
          .insert({ id, userId, chatId: chat.id, branch: input.branch ?? null, title: input.title ?? chat.title ?? fallbackTitle }, frozen),
      );
      return toTranscript(
        row,
        frozen.map((message) => ({ ...message, transcriptId: id })),
      );
    },

    /** The owner's transcripts, newest first; `q` keeps those whose title contains it (any case). */
    async list(userId: string, query: { limit?: number; cursor?: string; q?: string }): Promise<Page<TranscriptSummary>> {
      const limit = query.limit ?? 20;
      const rows = await transcripts.list(userId, {
        limit: limit + 1,
        beforeId: decodeCursor(query.cursor, isString),
        titleContains: query.q,
      });
      return toPage(rows, limit, (row) => row.id, toSummary);
    },

    /** One transcript with its messages, through the cache of the reader's tier. */
    async get(reader: TranscriptReader, id: string): Promise<Transcript> {
      const cached = await caches.read(limitTier(reader), id, () => load(id));
      if (cached.userId !== reader.id) throw notFound('Transcript');
      return cached.transcript;
    },

    /** One transcript as a Markdown or text download (see render.ts). */
    async download(reader: TranscriptReader, id: string, format: Exclude<TranscriptFormat, 'json'>): Promise<Download> {
      return download(await this.get(reader, id), format);
    },

    /** Changes the title, notes (null clears them) or tags; the cached copy goes everywhere before this answers. */
    async update(
      userId: string,
      id: string,
      patch: { title?: string; notes?: string | null; tags?: string[] },
    ): Promise<TranscriptSummary> {
      await own(userId, id);
      const row = await transcripts.update(id, { ...patch, tags: patch.tags === undefined ? undefined : uniqueTags(patch.tags) });
      await caches.changed(id);
      if (!row) throw notFound('Transcript');
      return toSummary(row);
    },

    /** Deletes the transcript; the cached copy goes everywhere before this answers. */
    async remove(userId: string, id: string): Promise<void> {
      await own(userId, id);
      const removed = await transcripts.remove(id);
      await caches.changed(id);
      if (!removed) throw notFound('Transcript');
    },

    /** Full text over the owner's transcripts (titles and messages), best first, with marked snippets. */
    async search(userId: string, query: { q: string; limit?: number; cursor?: string }): Promise<TranscriptSearchResults> {
      const limit = query.limit ?? 20;
      const offset = query.cursor === undefined ? 0 : decodeSearchCursor(query.cursor);
      if (offset === undefined) throw badCursor();
      const hits = await search.search(userId, query.q, { limit: limit + 1, offset });
      const pageHits = hits.slice(0, limit);
      const rows = new Map((await transcripts.byIds(pageHits.map((hit) => hit.transcriptId))).map((row) => [row.id, row]));
      return {
        data: pageHits.flatMap((hit) => {
          const row = rows.get(hit.transcriptId);
          return row ? [{ transcript: toSummary(row), matches: hit.matches }] : [];
        }),
        nextCursor: hits.length > limit ? encodeSearchCursor(offset + limit) : null,
      };
    },
  };
}

export type TranscriptsService = ReturnType<typeof createTranscriptsService>;
