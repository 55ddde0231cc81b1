// Cutting text between user-perceived characters, never inside one. Every truncation of text that
// a person may read (titles, search snippets, log fields, echoed upstream errors) goes through here.
//
// The rule is Unicode UAX #29, "Unicode Text Segmentation": a cut may fall only on an extended
// grapheme cluster boundary, as Intl.Segmenter with granularity 'grapheme' reports it. So a cut
// never leaves a lone UTF-16 surrogate (which encodes as U+FFFD), never separates a base letter
// from its combining marks (e + U+0301), a skin tone from its emoji (👍🏽), the halves of a flag
// (🇫🇷), the members of a ZWJ sequence (👩‍👩‍👧‍👦), a keycap (1️⃣) or an Indic conjunct (क्षा).
// Lengths are UTF-16 code units (String#length), the unit the rest of the code measures.

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The grapheme clusters of `text` (UAX #29), lazily: `containing(i)` finds one without scanning from the start. */
export function graphemes(text: string): Intl.Segments {
  return segmenter.segment(text);
}

/** The last grapheme boundary (UAX #29) at or before `index`: where a cut that must not go past `index` falls. */
export function graphemeFloor(text: string, index: number, segments: Intl.Segments = graphemes(text)): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  return segments.containing(index)?.index ?? index;
}

/** The first grapheme boundary (UAX #29) at or after `index`: where a cut that must keep `index - 1` falls. */
export function graphemeCeil(text: string, index: number, segments: Intl.Segments = graphemes(text)): number {
  if (index <= 0) return 0;
  if (index >= text.length) return text.length;
  const segment = segments.containing(index);
  if (!segment || segment.index === index) return index;
  return segment.index + segment.segment.length;
}

/**
 * `text` itself when it is at most `maxLength` code units long; otherwise its longest prefix of
 * whole grapheme clusters (UAX #29) that fits in `maxLength` together with `ellipsis`, then
 * `ellipsis`. The result never ends inside a character, and is never longer than `maxLength`
 * (if the ellipsis alone does not fit, it is left out). A single cluster longer than the room
 * left is dropped whole.
 */
export function truncateGraphemes(text: string, maxLength: number, ellipsis = '…'): string {
  const limit = Math.max(0, Math.floor(maxLength) || 0);
  if (text.length <= limit) return text;
  const mark = ellipsis.length <= limit ? ellipsis : '';
  return `${text.slice(0, graphemeFloor(text, limit - mark.length))}${mark}`;
}

/**
 * The part of `text` from `start` to `end`, widened to grapheme boundaries (UAX #29) so that no
 * character at either edge is cut, with `ellipsis` on each side where text was left out.
 */
export function graphemeExcerpt(text: string, start: number, end: number, ellipsis = '…'): string {
  const segments = graphemes(text);
  const from = graphemeFloor(text, Math.max(0, start), segments);
  const to = graphemeCeil(text, Math.min(text.length, Math.max(end, from)), segments);
  return `${from > 0 ? ellipsis : ''}${text.slice(from, to)}${to < text.length ? ellipsis : ''}`;
}
