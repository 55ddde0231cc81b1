// The one normalisation of a reply's text. The engine applies it to every chunk from the
// provider before the chunk is appended to the stream buffer or stored, so what readers are sent
// and what the database keeps are the same characters: the concatenated deltas equal the stored
// text (API.md), on SQLite and Postgres alike.

/** What a character the database cannot keep becomes: U+FFFD REPLACEMENT CHARACTER. */
export const REPLACEMENT = '\ufffd';

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * Replaces, never drops (so lengths and offsets stay recognisable and nothing vanishes silently):
 * - U+0000 with U+FFFD: Postgres `text` cannot hold NUL ("invalid byte sequence … 0x00");
 * - a lone UTF-16 surrogate with U+FFFD: it has no UTF-8 encoding, so Postgres, SQLite and the
 *   wire would each turn it into U+FFFD (or refuse it) on their own, after the delta was sent.
 * Other characters, controls included, pass unchanged.
 */
export function normalizeText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', REPLACEMENT);
}

/**
 * `normalizeText` over a stream of chunks. A chunk that ends with a high surrogate keeps it back
 * until the next chunk shows whether a low surrogate completes the pair (providers do split an
 * emoji between two deltas); `end()` gives what is still held, as U+FFFD. The concatenation of
 * every `push` and the `end` is `normalizeText` of the concatenated chunks.
 */
export function createTextNormalizer() {
  let held = '';
  return {
    push(chunk: string): string {
      let text = held + chunk;
      held = '';
      if (text.length > 0 && isHighSurrogate(text.charCodeAt(text.length - 1))) {
        held = text.slice(-1);
        text = text.slice(0, -1);
      }
      return normalizeText(text);
    },
    end(): string {
      const rest = held;
      held = '';
      return rest ? REPLACEMENT : '';
    },
  };
}

export type TextNormalizer = ReturnType<typeof createTextNormalizer>;
