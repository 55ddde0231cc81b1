// Which files are taken, judged by their bytes (file-type reads the signature), never by what the
// client declares: a PNG declared text/plain is stored as image/png, an executable declared
// image/png is refused. Text has no signature, so it is taken when the bytes are UTF-8 without NUL
// and the client says it is text (by type or extension).
import { fileTypeFromBuffer } from 'file-type';
import { AppError } from '../../http/errors.ts';
import { extensionOf } from './names.ts';

/** Bytes read before the type is judged: enough for file-type to see inside a docx/xlsx/pptx zip. */
export const sniffBytes = 64 * 1024;

/** Detected types that are stored, as file-type names them. */
const allowedTypes = new Set([
  'image/png',
  'image/apng',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'audio/mpeg',
  'audio/wav',
  'audio/ogg',
  'audio/ogg; codecs=opus',
  'audio/flac',
  'audio/x-m4a',
  'audio/mp4',
  'video/mp4',
  'video/webm',
]);

const utf8 = 'charset=utf-8';
/** Text stored by extension: its type. Source code and anything else text-like is text/plain. */
const textTypeByExtension: Record<string, string> = {
  md: `text/markdown; ${utf8}`,
  markdown: `text/markdown; ${utf8}`,
  csv: `text/csv; ${utf8}`,
  tsv: `text/tab-separated-values; ${utf8}`,
  json: 'application/json',
};
// Extensions of text files, source code and configuration that are taken as text.
const textExtensions = new Set([
  ...Object.keys(textTypeByExtension),
  ...'txt text log ini cfg conf env toml yaml yml xml html htm css scss less rst tex adoc org srt vtt jsonl ndjson'.split(' '),
  ...'js mjs cjs jsx ts tsx mts cts py rb php java kt kts scala go rs c h cc cpp hpp cs swift m mm sql sh bash zsh fish ps1 bat'.split(' '),
  ...'r jl lua pl pm dart ex exs erl hs ml fs clj vue svelte graphql gql proto dockerfile makefile gradle properties diff patch'.split(' '),
]);
/** Declared types that say "text": text/* and the application types of text formats. */
const textDeclared =
  /^(?:text\/[\w.+-]+|application\/(?:json|[\w.+-]+\+json|x-ndjson|xml|[\w.+-]+\+xml|javascript|x-javascript|ecmascript|typescript|x-typescript|x-sh|x-shellscript|x-python|x-yaml|yaml|toml|x-toml|sql|x-httpd-php|graphql))\s*(?:;|$)/i;

/**
 * The type to store for a file whose first bytes are `head` (`complete` when that is the whole
 * file), or throws 415 `unsupported_media_type`. For a file taken as text (no type detected, but
 * sent as text), `checkText` is the check its remaining chunks must pass (see textChecker), with
 * `head` already checked.
 */
export async function judgeType(
  head: Uint8Array,
  complete: boolean,
  declared: { name: string; type: string },
): Promise<{ contentType: string; checkText?: TextCheck }> {
  const detected = await fileTypeFromBuffer(head);
  if (detected) {
    if (allowedTypes.has(detected.mime)) return { contentType: detected.mime };
    throw refused(`${detected.mime} (.${detected.ext}) is not a type of file taken here`);
  }
  const extension = extensionOf(declared.name);
  const saysText = textDeclared.test(declared.type) || textExtensions.has(extension);
  if (!saysText) throw refused('Its type could not be told from its content, and it was not sent as text');
  const checkText = textChecker();
  checkText(head, complete);
  return { contentType: textTypeByExtension[extension] ?? `text/plain; ${utf8}`, checkText };
}

/** Checks the next chunk of a text file (`last` on its final one); throws 415 when the text is not fit. */
export type TextCheck = (chunk: Uint8Array, last?: boolean) => void;

/**
 * A check of text arriving in chunks: call it with each chunk (`last` on the final one); it throws
 * 415 as soon as the bytes are not UTF-8 or hold a NUL. A character split across chunks is fine.
 */
export function textChecker(): TextCheck {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (chunk, last = false) => {
    if (chunk.includes(0)) throw refused('It was sent as text but holds NUL bytes');
    try {
      decoder.decode(chunk, { stream: !last });
    } catch {
      throw refused('It was sent as text but is not valid UTF-8');
    }
  };
}

const refused = (why: string) =>
  new AppError(
    'unsupported_media_type',
    `${why}. Allowed: PNG, JPEG, GIF and WebP images; PDF; Word, Excel and PowerPoint (docx, xlsx, pptx); MP3, WAV, Ogg, WebM, M4A/MP4 and FLAC audio; and UTF-8 text (plain, Markdown, CSV, JSON, source code)`,
  );
