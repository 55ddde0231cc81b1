import { t } from 'elysia';
import { pageQuery } from '../../http/pagination.ts';
import { MessageRole } from '../../http/vocabulary.ts';

const Nullable = <T extends import('elysia').TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Time = t.String({ format: 'date-time' });
const Id = t.String({ minLength: 1, maxLength: 64 });
const Title = t.String({ minLength: 1, maxLength: 200 });
const Notes = t.String({ maxLength: 20_000 });
const Tag = t.String({ minLength: 1, maxLength: 40, description: 'A short label' });
const Tags = t.Array(Tag, { maxItems: 20, description: 'Short labels, at most 20; repeats are kept once, in first-seen order' });

export const TranscriptMessage = t.Object({
  position: t.Integer({ minimum: 0, description: '0-based place along the frozen path' }),
  messageId: t.String({ description: 'The chat message it was copied from (which may since have been edited away or deleted)' }),
  role: MessageRole,
  content: t.String(),
  provider: Nullable(t.String()),
  model: Nullable(t.String()),
  attachments: t.Array(t.String(), { description: "The names of the message's attached files, as they were then" }),
  createdAt: t.String({ format: 'date-time', description: 'When the original message was written' }),
});
export type TranscriptMessage = typeof TranscriptMessage.static;

export const TranscriptSummary = t.Object({
  id: t.String(),
  chatId: t.String({ description: 'The chat it was taken from (which may since have been deleted)' }),
  branch: Nullable(t.String({ description: 'The message whose path was frozen; null when the chat’s active path was' })),
  title: t.String(),
  notes: Nullable(t.String()),
  tags: t.Array(t.String()),
  messageCount: t.Integer({ minimum: 0 }),
  createdAt: Time,
  updatedAt: t.String({ format: 'date-time', description: 'When its title, notes or tags last changed (its messages never do)' }),
});
export type TranscriptSummary = typeof TranscriptSummary.static;

export const Transcript = t.Composite([TranscriptSummary, t.Object({ messages: t.Array(TranscriptMessage) })]);
export type Transcript = typeof Transcript.static;

export const CreateTranscriptBody = t.Object(
  {
    chatId: Id,
    title: t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'Defaults to the chat’s title' })),
    branch: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 64,
        description:
          'The id of a message of the chat: the path frozen is root → that message, then its selected descendants (the branch `POST /chats/:id/messages/:messageId/select` would show), without changing the chat. Unset: the active path.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const UpdateTranscriptBody = t.Object(
  { title: t.Optional(Title), notes: t.Optional(Nullable(Notes)), tags: t.Optional(Tags) },
  { additionalProperties: false, minProperties: 1 },
);

export const TranscriptParams = t.Object({ id: t.String({ maxLength: 64 }) });

export const TranscriptFormats = ['json', 'md', 'txt'] as const;
export type TranscriptFormat = (typeof TranscriptFormats)[number];

export const GetTranscriptQuery = t.Object({
  format: t.Optional(
    t.Union([t.Literal('json'), t.Literal('md'), t.Literal('txt')], {
      default: 'json',
      description:
        '`json` (default); `md` (Markdown, text/markdown) or `txt` (plain text, text/plain) as a download: Content-Disposition: attachment with a filename made from the title',
    }),
  ),
});

export const ListTranscriptsQuery = pageQuery({
  q: t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'Part of the title (any case)' })),
});

export const SearchTranscriptsQuery = pageQuery({
  q: t.String({ minLength: 1, maxLength: 200, description: 'Words; every one must appear (the last may be the start of a word)' }),
});

const Highlight = t.Object({
  start: t.Integer({ minimum: 0 }),
  end: t.Integer({ minimum: 0 }),
});

export const TranscriptSearchResults = t.Object({
  data: t.Array(
    t.Object({
      transcript: TranscriptSummary,
      matches: t.Array(
        t.Object({
          position: Nullable(t.Integer({ minimum: 0, description: 'The matching message’s position; null for a match in the title' })),
          snippet: t.String({ description: 'The text around the match, cut between characters, `…` where text was left out' }),
          highlights: t.Array(Highlight, {
            description:
              'Where the snippet shows the searched words: `snippet.slice(start, end)`, in UTF-16 code units, in order; never inside a character',
          }),
        }),
      ),
    }),
  ),
  nextCursor: Nullable(t.String()),
});
export type TranscriptSearchResults = typeof TranscriptSearchResults.static;
