// Files as prompt content, for attachments and analysis: images as image parts (bytes, base64),
// everything with text (plain, Markdown, JSON, CSV, code, PDF, DOCX) as <attachment> elements
// fitted into a token budget, and a note for each file cut, left out or not sent. Extracted text
// is cached (files never change once stored), so a long chat does not re-read its PDFs each turn.
import { notFound } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import { type ContentPart, IMAGE_MEDIA_TYPES, type ImageMediaType } from '../../infra/llm/types.ts';
import { ExtractError, type ExtractedText, extractText } from './extract.ts';
import { type AttachmentText, fitAttachments, renderAttachment } from './extract-budget.ts';
import type { FileRow } from './repository.ts';

/** What files add to a prompt: each file's parts (in the order asked), and what was cut or not sent. */
export type FilePrompt = {
  /** Parts per file id: an image part, or one text part; none for a file left out. */
  parts: Map<string, ContentPart[]>;
  /** One line per file cut, left out or not sent ("report.pdf: cut to 12,000 of 48,210 characters"). */
  notes: string[];
  /** Estimated tokens of the text parts. */
  tokens: number;
};

/** Most characters extracted from one file: enough for any budget a context allows. */
const maxExtractChars = 400_000;

const isImage = (type: string): type is ImageMediaType => (IMAGE_MEDIA_TYPES as readonly string[]).includes(type);

export function createFilePrompts(
  infra: Pick<Infra, 'cache'>,
  deps: { rows: (userId: string, ids: readonly string[]) => Promise<FileRow[]>; bytes: (row: FileRow) => Promise<Uint8Array> },
) {
  const texts = infra.cache.namespace<ExtractedText>('file-text', { l1TtlMs: 60_000, l2TtlMs: 86_400_000, l1MaxEntries: 200 });

  /** A file's text (cached; files never change), or ExtractError when it has none (an image, audio…). */
  const extracted = async (row: FileRow, maxChars: number): Promise<ExtractedText> =>
    texts.get(`${row.id}:${maxChars}`, async () =>
      extractText({ bytes: await deps.bytes(row), contentType: row.contentType, name: row.name }, { maxChars }),
    );

  return {
    /** The text of the user's file `id`, at most `maxChars` characters: 404 when not theirs, 415/422 when it has no text. */
    async textOf(userId: string, id: string, maxChars: number): Promise<string> {
      const [row] = await deps.rows(userId, [id]);
      if (!row) throw notFound('File');
      return (await extracted(row, Math.min(maxExtractChars, maxChars))).text;
    },

    /**
     * The prompt content of the user's files `ids` (404 `not_found` when one is not theirs), the
     * text ones fitted together into `budgetTokens` (estimated tokens). A file that cannot be read
     * as text (audio, a spreadsheet) is not sent, with a note saying so. `field` names the request
     * field in errors (`body.attachments`).
     */
    async partsOf(userId: string, ids: readonly string[], budgetTokens: number): Promise<FilePrompt> {
      const unique = [...new Set(ids)];
      const rows = new Map((await deps.rows(userId, unique)).map((row) => [row.id, row]));
      if (rows.size !== unique.length) throw notFound('File');
      const parts = new Map<string, ContentPart[]>();
      const notes: string[] = [];
      const textual: (AttachmentText & { id: string })[] = [];
      const maxChars = Math.min(maxExtractChars, Math.max(0, budgetTokens) * 4);
      for (const id of unique) {
        const row = rows.get(id)!;
        if (isImage(row.contentType)) {
          const data = Buffer.from(await deps.bytes(row)).toString('base64');
          parts.set(id, [{ type: 'image', mediaType: row.contentType, data }]);
          continue;
        }
        try {
          const text = await extracted(row, maxChars);
          textual.push({ ...text, name: row.name, id });
        } catch (error) {
          if (!(error instanceof ExtractError)) throw error;
          notes.push(
            error.reason === 'audio'
              ? `${row.name}: audio is not sent to the model (transcribe it with POST /voice/transcribe)`
              : `${row.name}: not sent (${error.message})`,
          );
          parts.set(id, []);
        }
      }
      const fitted = fitAttachments(textual, budgetTokens);
      notes.push(...fitted.notes);
      for (const kept of fitted.kept) parts.set((kept as (typeof textual)[number]).id, [{ type: 'text', text: renderAttachment(kept) }]);
      for (const id of unique) if (!parts.has(id)) parts.set(id, []);
      return { parts, notes, tokens: fitted.tokens };
    },
  };
}

export type FilePrompts = ReturnType<typeof createFilePrompts>;
