// The one normalisation of a reply's text (src/modules/replies/text.ts): however a provider cuts
// its chunks, what the stream carries and what the database stores is normalizeText of the whole.
import { describe, expect, test } from 'bun:test';
import { createTextNormalizer, normalizeText } from '../../src/modules/replies/text.ts';

const pushAll = (chunks: string[]) => {
  const normalizer = createTextNormalizer();
  return chunks.map((chunk) => normalizer.push(chunk)).join('') + normalizer.end();
};

describe('reply text normalisation', () => {
  test('happy: NUL and lone surrogates become U+FFFD; pairs, other controls and plain text pass unchanged', () => {
    expect(normalizeText('a\u0000b')).toBe('a\ufffdb');
    expect(normalizeText('x\ud800y\udc00z')).toBe('x\ufffdy\ufffdz');
    expect(normalizeText('emoji \u{1f600}, tab\t, bell\u0007, é')).toBe('emoji \u{1f600}, tab\t, bell\u0007, é');
  });

  test('happy: a pair split between two chunks stays one character; a high surrogate left at the end becomes U+FFFD', () => {
    const normalizer = createTextNormalizer();
    expect(normalizer.push('split \ud83d')).toBe('split ');
    expect(normalizer.push('\ude00 joined')).toBe('\u{1f600} joined');
    expect(normalizer.push('dangling \udbff')).toBe('dangling ');
    expect(normalizer.push(' next')).toBe('\ufffd next');
    expect(normalizer.push('last \ud83d')).toBe('last ');
    expect(normalizer.end()).toBe('\ufffd');
    expect(normalizer.end()).toBe('');
  });

  test('happy: for every way of cutting a text into chunks, the pieces add up to the normalised whole', () => {
    const text = 'a\u0000\ud83d\ude00b\ud800\udc00\udbff\u0000c\udc00\ud83d';
    const units = text.split('');
    // Every subset of the cut points between code units (2^(n-1) chunkings).
    for (let mask = 0; mask < 2 ** (units.length - 1); mask++) {
      const chunks: string[] = [];
      let current = units[0]!;
      for (let i = 1; i < units.length; i++) {
        if (mask & (1 << (i - 1))) {
          chunks.push(current);
          current = '';
        }
        current += units[i]!;
      }
      chunks.push(current);
      const joined = pushAll(chunks);
      if (joined !== normalizeText(text)) throw new Error(`chunks ${JSON.stringify(chunks)} gave ${JSON.stringify(joined)}`);
      expect(joined.isWellFormed()).toBe(true);
    }
  });
});
