// A stored file's bytes turned into text for an LLM prompt: plain text, Markdown, JSON (re-indented),
// CSV and source code as they are (see extract-text.ts for encodings and what counts as text),
// PDF through PDF.js (the `unpdf` build, which needs no worker and no canvas), DOCX through
// mammoth's raw text. Images, audio and video are not text: they are refused with a typed error
// whose `reason` tells the caller to send an image as an image part instead.
//
// The bytes say what a file is, not its name: the declared type and extension only choose between
// the readings the bytes allow (a .pdf whose bytes are no PDF is a corrupt PDF, a PNG named .txt is
// an image). Work is bounded: at most `maxBytes` of input, PDF pages read only until `maxChars` are
// had (or the time is up), and a DOCX whose parts would inflate past a limit is refused unread.

import { unzipSync } from 'fflate';
import { fileTypeFromBuffer } from 'file-type';
import { AppError, type ErrorCode } from '../../http/errors.ts';
import { graphemeFloor } from '../../text/graphemes.ts';
import { decodeText, prettyJson, type TextKind, textKindOf } from './extract-text.ts';

export type ExtractKind = TextKind | 'pdf' | 'docx';

/** What `extractText` read from a file. Lengths are UTF-16 code units (String#length). */
export type ExtractedText = {
  kind: ExtractKind;
  /** The text, at most `maxChars` long, cut between characters (grapheme clusters). May be empty (a scanned PDF). */
  text: string;
  /** `text.length`. */
  chars: number;
  /** Length of the whole text before the cut; null when reading stopped early (a PDF's later pages unread). */
  totalChars: number | null;
  /** True when `text` is not the whole of the file's text. */
  truncated: boolean;
  /** For kind 'code': the language named by the extension (`python`, `typescript`…). */
  language?: string;
  /** For kind 'pdf': the document's page count. */
  pages?: number;
};

export type ExtractInput = { bytes: Uint8Array; contentType: string; name: string };

export type ExtractOptions = {
  /** Most characters (UTF-16 code units) of text returned; an integer ≥ 0. */
  maxChars: number;
  /** Most input bytes parsed; default EXTRACT_MAX_BYTES. */
  maxBytes?: number;
  /** Time after which a PDF's remaining pages are left unread, in ms; default EXTRACT_PDF_TIME_MS. */
  timeMs?: number;
  /** The request field named in a 422's details (`body.attachments[0]`…); default `file`. */
  field?: string;
};

/** Largest input parsed, in bytes (32 MiB): above MAX_FILE_SIZE's default of 10 MiB, far below a PDF that would stall the process. */
export const EXTRACT_MAX_BYTES = 32 * 1024 * 1024;
/** Time spent reading a PDF's pages before the rest is left unread (the result is then truncated), in ms. */
export const EXTRACT_PDF_TIME_MS = 10_000;
/** Most PDF pages read. */
export const EXTRACT_PDF_MAX_PAGES = 2000;
/** Largest total of a DOCX's inflated parts (media excepted), in bytes: a zip bomb is refused before it is inflated. */
export const EXTRACT_DOCX_MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** Why a file gave no text. image, audio, video: send it another way; binary, unsupported: not a readable format. */
export type ExtractFailure = 'image' | 'audio' | 'video' | 'binary' | 'unsupported' | 'corrupt' | 'encrypted' | 'too_large';

const failureCodes: Record<ExtractFailure, ErrorCode> = {
  image: 'unsupported_media_type',
  audio: 'unsupported_media_type',
  video: 'unsupported_media_type',
  binary: 'unsupported_media_type',
  unsupported: 'unsupported_media_type',
  corrupt: 'validation_error',
  encrypted: 'validation_error',
  too_large: 'payload_too_large',
};

/**
 * A file that gave no text. It is an AppError already mapped to the contract: 415
 * unsupported_media_type (image, audio, video, binary, unsupported), 422 validation_error (corrupt,
 * encrypted) or 413 payload_too_large (too_large); `reason` says which, `mime` what the bytes are
 * when known. Callers that can send images to the model check `reason === 'image'` first.
 */
export class ExtractError extends AppError {
  constructor(
    readonly reason: ExtractFailure,
    message: string,
    options: { field: string; mime?: string; cause?: unknown },
  ) {
    super(failureCodes[reason], message, { details: [{ field: options.field, message }], cause: options.cause });
    this.name = 'ExtractError';
    this.mime = options.mime;
  }

  readonly mime: string | undefined;
}

/**
 * The text of a file for an LLM prompt, cut to `options.maxChars` characters (UTF-16 code units)
 * on a grapheme boundary, with `truncated: true` when anything was cut.
 *
 * Throws ExtractError (an AppError: 415, 422 or 413, see ExtractFailure) when the file is an image,
 * audio or video, binary or of a format that cannot be read as text, a corrupt or
 * password-protected PDF or DOCX, or larger than `options.maxBytes`. Throws RangeError when
 * `maxChars` is not an integer ≥ 0 (a caller's bug, not the user's).
 */
export async function extractText(input: ExtractInput, options: ExtractOptions): Promise<ExtractedText> {
  const { maxChars } = options;
  if (!Number.isSafeInteger(maxChars) || maxChars < 0) throw new RangeError(`maxChars must be an integer ≥ 0, got ${maxChars}`);
  const field = options.field ?? 'file';
  const name = input.name || 'file';
  const fail = (reason: ExtractFailure, message: string, extra: { mime?: string; cause?: unknown } = {}) =>
    new ExtractError(reason, message, { field, ...extra });
  const maxBytes = options.maxBytes ?? EXTRACT_MAX_BYTES;
  if (input.bytes.length > maxBytes) {
    throw fail('too_large', `${name} is ${input.bytes.length} bytes; text is read from files of at most ${maxBytes} bytes`);
  }

  const sniffed = await fileTypeFromBuffer(input.bytes).catch(() => undefined);
  const declared = declaredDocument(input.name, input.contentType);
  if (sniffed?.mime === 'application/pdf' || (!sniffed && declared === 'pdf')) {
    return extractPdf(input.bytes, name, maxChars, Date.now() + (options.timeMs ?? EXTRACT_PDF_TIME_MS), fail);
  }
  if (sniffed?.ext === 'docx' || (declared === 'docx' && (!sniffed || sniffed.ext === 'zip'))) {
    return finish('docx', await extractDocx(input.bytes, name, fail), maxChars);
  }
  // Bytes that read as text are text, whatever a signature says: "BMW sales,…" starts like a BMP,
  // "ID3 tags…" like an MP3, "MZ…" like an executable. Real media and executables hold NUL bytes
  // or mostly invalid UTF-8 within their first bytes, so they never read as text. XML, RTF and
  // PostScript are sniffed as formats, yet are text too.
  const decoded = decodeText(input.bytes);
  if (decoded === undefined) {
    const media = sniffed?.mime.split('/')[0];
    if (media === 'image' || media === 'audio' || media === 'video') {
      const advice = media === 'image' ? 'send it as an image' : 'transcribe it first';
      throw fail(media, `${name} is ${media === 'audio' ? 'audio' : `an ${media}`} (${sniffed!.mime}), not text: ${advice}`, {
        mime: sniffed!.mime,
      });
    }
    if (sniffed) {
      throw fail('unsupported', `${name} is ${sniffed.mime}, which cannot be read as text; ${readable}`, { mime: sniffed.mime });
    }
    throw fail('binary', `${name} holds binary data, not text; ${readable}`);
  }
  const { kind, language } = textKindOf(name, input.contentType);
  if (kind === 'json') {
    const pretty = prettyJson(decoded, maxChars);
    const result = finish(kind, pretty.text, maxChars);
    return pretty.complete ? result : { ...result, totalChars: null, truncated: true };
  }
  return { ...finish(kind, decoded, maxChars), ...(language ? { language } : {}) };
}

const readable = 'text, Markdown, JSON, CSV, source code, PDF and DOCX can be';

/** `text` cut to `maxChars` code units on a grapheme boundary (UAX #29), never inside a character. */
export function cutText(text: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  return { text: text.slice(0, graphemeFloor(text, maxChars)), truncated: true };
}

function finish(kind: ExtractKind, whole: string, maxChars: number): ExtractedText {
  const { text, truncated } = cutText(whole, maxChars);
  return { kind, text, chars: text.length, totalChars: whole.length, truncated };
}

/** The document format a file claims by its content type or extension, whatever its bytes. */
function declaredDocument(name: string, contentType: string): 'pdf' | 'docx' | undefined {
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  const lower = name.toLowerCase();
  if (mime === 'application/pdf' || lower.endsWith('.pdf')) return 'pdf';
  if (mime === 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' || lower.endsWith('.docx')) return 'docx';
  return undefined;
}

type Fail = (reason: ExtractFailure, message: string, extra?: { mime?: string; cause?: unknown }) => ExtractError;

let pdfjs: Promise<typeof import('unpdf')> | undefined;

/**
 * unpdf with PDF.js resolved, loaded on first use: PDF.js is 1.7 MB of code that most processes
 * never need. Resolved apart from parsing so that a failure to load it is a 500, not a "corrupt PDF".
 */
function loadPdfjs(): Promise<typeof import('unpdf')> {
  pdfjs ??= import('unpdf').then(async (unpdf) => {
    await unpdf.getResolvedPDFJS();
    return unpdf;
  });
  return pdfjs;
}

/** Text of a PDF, pages joined by a blank line, read until maxChars are had or the deadline (epoch ms) passes. */
async function extractPdf(bytes: Uint8Array, name: string, maxChars: number, deadline: number, fail: Fail): Promise<ExtractedText> {
  const { getDocumentProxy } = await loadPdfjs();
  const document = await getDocumentProxy(bytes.slice(), {
    // A copy above: PDF.js transfers (detaches) the buffer it is given.
    disableFontFace: true,
    useSystemFonts: false,
    stopAtErrors: false,
    verbosity: 0,
  }).catch((error: unknown) => {
    const encrypted = (error as { name?: string } | null)?.name === 'PasswordException';
    throw encrypted
      ? fail('encrypted', `${name} is a password-protected PDF; text cannot be read from it`, { cause: error })
      : fail('corrupt', `${name} is not a readable PDF`, { cause: error });
  });
  try {
    const pages: string[] = [];
    let length = 0;
    let complete = true;
    for (let number = 1; number <= document.numPages; number++) {
      if (length >= maxChars || number > EXTRACT_PDF_MAX_PAGES || Date.now() > deadline) {
        complete = false;
        break;
      }
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      const text = content.items
        .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
        .join('')
        // Runs of spaces collapse, lines keep their breaks, at most one blank line in a row.
        .replace(/[^\S\n]+/g, ' ')
        .replace(/ ?\n ?/g, '\n')
        .replace(/\n{3,}/g, '\n\n')
        .trim();
      page.cleanup();
      if (text) {
        length += text.length + (pages.length > 0 ? 2 : 0);
        pages.push(text);
      }
    }
    const whole = pages.join('\n\n');
    const { text, truncated } = cutText(whole, maxChars);
    return {
      kind: 'pdf',
      text,
      chars: text.length,
      totalChars: complete ? whole.length : null,
      truncated: truncated || !complete,
      pages: document.numPages,
    };
  } catch (error) {
    throw fail('corrupt', `${name} is not a readable PDF`, { cause: error });
  } finally {
    await document.loadingTask.destroy();
  }
}

/** Raw text of a DOCX (paragraphs separated by a blank line), refused unread when it would inflate too far. */
async function extractDocx(bytes: Uint8Array, name: string, fail: Fail): Promise<string> {
  let inflated = 0;
  let hasDocument = false;
  try {
    // Reads the zip's directory only: every entry is declined, so nothing is inflated here.
    unzipSync(bytes, {
      filter(entry) {
        if (entry.name === 'word/document.xml') hasDocument = true;
        if (!entry.name.startsWith('word/media/')) inflated += entry.originalSize;
        return false;
      },
    });
  } catch (error) {
    throw fail('corrupt', `${name} is not a readable DOCX`, { cause: error });
  }
  if (!hasDocument) throw fail('corrupt', `${name} is not a readable DOCX (it has no word/document.xml)`);
  if (inflated > EXTRACT_DOCX_MAX_INFLATED_BYTES) {
    throw fail(
      'too_large',
      `${name} would inflate to ${inflated} bytes; text is read from DOCX files of at most ${EXTRACT_DOCX_MAX_INFLATED_BYTES}`,
    );
  }
  const mammoth = await import('mammoth');
  try {
    const result = await mammoth.extractRawText({ buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    return result.value
      .replace(/\r\n?/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  } catch (error) {
    throw fail('corrupt', `${name} is not a readable DOCX`, { cause: error });
  }
}
