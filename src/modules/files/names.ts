import { truncateGraphemes } from '../../text/graphemes.ts';

/** Longest stored file name, in UTF-16 code units (as the rest of the code measures text). */
export const maxFileNameLength = 255;
const fallbackName = 'file';
// A name's extension worth keeping: a dot, then up to 16 letters or digits, at the end.
const extensionPattern = /\.[\p{L}\p{N}]{1,16}$/u;

// C0 and C1 controls (NUL included) and DEL; the bidirectional controls that reorder what is shown
// (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates, the LRM/RLM/ALM marks), by which
// `invoice‮fdp.exe` displays as `invoiceexe.pdf`; and the byte order mark.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is removed
const unsafeCharacters = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/**
 * A file name fit to show and to offer back as a download name, from whatever a client sent: the
 * last segment of any path (`/` or `\`, so `../../etc/passwd` is `passwd`), without control
 * characters or bidirectional overrides, NFC, trimmed, at most 255 code units with the extension
 * kept (the stem is cut between graphemes), `file` when nothing is left. For display only: the
 * bytes are stored under an id, never under this name.
 */
export function sanitizeFileName(raw: string | undefined): string {
  const segments = (raw ?? '').normalize('NFC').replace(unsafeCharacters, '').split(/[/\\]/);
  const name = (segments[segments.length - 1] ?? '').trim();
  if (name === '' || /^\.+$/.test(name)) return fallbackName;
  if (name.length <= maxFileNameLength) return name;
  const extension = extensionPattern.exec(name)?.[0] ?? '';
  const stem = truncateGraphemes(name.slice(0, name.length - extension.length), maxFileNameLength - extension.length, '').trimEnd();
  return `${stem || fallbackName}${extension}`;
}

/** The extension of a (sanitised) name, lower-cased without its dot, or '' when it has none. */
export function extensionOf(name: string): string {
  return extensionPattern.exec(name)?.[0].slice(1).toLowerCase() ?? '';
}
