// Text extraction on real files: PDFs and DOCX made by pdf-lib and docx, text in its encodings,
// images, audio, archives and broken documents, and the cut at maxChars.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { AppError } from '../../src/http/errors.ts';
import { type ExtractError, type ExtractInput, type ExtractOptions, extractText } from '../../src/modules/files/extract.ts';
import { makeDocx, makePdf, makeWav, makeZip, png } from './extract-fixtures.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const extract = (bytes: Uint8Array, name: string, contentType = 'application/octet-stream', options: Partial<ExtractOptions> = {}) =>
  extractText({ bytes, name, contentType }, { maxChars: 100_000, ...options });

/** The ExtractError `extractText` throws for `input`, checked to be the AppError the contract wants. */
async function failure(input: ExtractInput, options: Partial<ExtractOptions> = {}): Promise<ExtractError> {
  const error = await extractText(input, { maxChars: 1000, ...options }).then(
    (result) => {
      throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as ExtractError;
}

describe('PDF', () => {
  test('happy: reads every page of a real PDF, lines kept, pages a blank line apart', async () => {
    const bytes = await makePdf([['Quarterly report', 'Revenue grew by 12%.'], ['Page two: outlook']]);
    const text = 'Quarterly report\nRevenue grew by 12%.\n\nPage two: outlook';
    expect(await extract(bytes, 'report.pdf', 'application/pdf')).toEqual({
      kind: 'pdf',
      text,
      chars: text.length,
      totalChars: text.length,
      truncated: false,
      pages: 2,
    });
  });

  test('happy: the bytes say PDF even when the name and type say otherwise', async () => {
    const bytes = await makePdf([['Named wrongly']]);
    expect(await extract(bytes, 'notes.txt', 'text/plain')).toMatchObject({ kind: 'pdf', text: 'Named wrongly' });
  });

  test('happy: stops reading pages once maxChars are had; the length of the rest is then unknown', async () => {
    const bytes = await makePdf([['First page text'], ['Second page text'], ['Third page text']]);
    expect(await extract(bytes, 'long.pdf', 'application/pdf', { maxChars: 10 })).toEqual({
      kind: 'pdf',
      text: 'First page',
      chars: 10,
      totalChars: null,
      truncated: true,
      pages: 3,
    });
    // Cut inside the last page: every page was read, so the whole length is known.
    expect(await extract(bytes, 'long.pdf', 'application/pdf', { maxChars: 40 })).toMatchObject({
      text: 'First page text\n\nSecond page text\n\nThird',
      totalChars: 50,
      truncated: true,
    });
  });

  test('happy: a PDF without text (a scan) gives empty text, not an error', async () => {
    expect(await extract(await makePdf([[]]), 'scan.pdf', 'application/pdf')).toMatchObject({ kind: 'pdf', text: '', chars: 0, pages: 1 });
  });

  test('error: a corrupt PDF is a 422 naming the file, never a crash', async () => {
    const real = await makePdf([['Some text']]);
    for (const bytes of [encode('%PDF-1.7\nthis is not a pdf at all'), real.slice(0, 200), encode('plain words')]) {
      const error = await failure({ bytes, name: 'broken.pdf', contentType: 'application/pdf' });
      expect({ reason: error.reason, status: error.status, code: error.code }).toEqual({
        reason: 'corrupt',
        status: 422,
        code: 'validation_error',
      });
      expect(error.toBody()).toEqual({
        error: {
          code: 'validation_error',
          message: 'broken.pdf is not a readable PDF',
          details: [{ field: 'file', message: 'broken.pdf is not a readable PDF' }],
        },
      });
    }
  });

  test('error: a password-protected PDF is a 422 that says so', async () => {
    const bytes = await makePdf([['secret']], { encrypted: true });
    const error = await failure({ bytes, name: 'locked.pdf', contentType: 'application/pdf' }, { field: 'body.attachments[1]' });
    expect({ reason: error.reason, status: error.status }).toEqual({ reason: 'encrypted', status: 422 });
    expect(error.toBody().error.details).toEqual([
      { field: 'body.attachments[1]', message: 'locked.pdf is a password-protected PDF; text cannot be read from it' },
    ]);
  });
});

describe('DOCX', () => {
  test('happy: reads the raw text of a real DOCX, paragraphs a blank line apart, formatting dropped', async () => {
    const bytes = await makeDocx('Minutes', [['Present: ', 'Ana', ' and Bo.'], ['Decision: ship on Friday ✅']]);
    const text = 'Minutes\n\nPresent: Ana and Bo.\n\nDecision: ship on Friday ✅';
    expect(await extract(bytes, 'minutes.docx')).toEqual({
      kind: 'docx',
      text,
      chars: text.length,
      totalChars: text.length,
      truncated: false,
    });
  });

  test('happy: a DOCX is known by its bytes whatever its name', async () => {
    const bytes = await makeDocx('Title', [['Body']]);
    expect(await extract(bytes, 'upload.bin')).toMatchObject({ kind: 'docx', text: 'Title\n\nBody' });
  });

  test('error: a corrupt DOCX, or a zip that is no Word document, is a 422', async () => {
    const real = await makeDocx('Title', [['Body']]);
    for (const bytes of [real.slice(0, real.length / 2), encode('not a zip'), makeZip({ 'readme.txt': 'hi' })]) {
      const error = await failure({ bytes, name: 'broken.docx', contentType: 'application/octet-stream' });
      expect({ reason: error.reason, status: error.status }).toEqual({ reason: 'corrupt', status: 422 });
    }
  });

  test('security: a DOCX that would inflate past the limit is refused before it is inflated (zip bomb)', async () => {
    const bomb = makeZip({
      '[Content_Types].xml': '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
      'word/document.xml': new Uint8Array(65 * 1024 * 1024).fill(0x20),
    });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const started = performance.now();
    const error = await failure({ bytes: bomb, name: 'bomb.docx', contentType: 'application/octet-stream' });
    expect({ reason: error.reason, status: error.status, code: error.code }).toEqual({
      reason: 'too_large',
      status: 413,
      code: 'payload_too_large',
    });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('text formats', () => {
  test('happy: plain text and Markdown as they are, CR LF made LF, a UTF-8 byte order mark dropped', async () => {
    expect(await extract(encode('\uFEFFline one\r\nline two\r\n'), 'notes.txt', 'text/plain')).toEqual({
      kind: 'text',
      text: 'line one\nline two\n',
      chars: 18,
      totalChars: 18,
      truncated: false,
    });
    expect(await extract(encode('# Title\n\n- item'), 'README.md')).toMatchObject({ kind: 'markdown', text: '# Title\n\n- item' });
    expect(await extract(encode('# Title'), 'upload', 'text/markdown; charset=utf-8')).toMatchObject({ kind: 'markdown' });
  });

  test('happy: JSON is re-indented without changing a value: big numbers, key order and duplicate keys stay', async () => {
    const raw = '{"id":12345678901234567890,"tags":["a","b, \\"c\\""],"empty":{},"none":[],"id":2,"nested":{"x":-1.5e3,"y":null}}';
    expect(await extract(encode(raw), 'data.json', 'application/json')).toMatchObject({
      kind: 'json',
      text: [
        '{',
        '  "id": 12345678901234567890,',
        '  "tags": [',
        '    "a",',
        '    "b, \\"c\\""',
        '  ],',
        '  "empty": {},',
        '  "none": [],',
        '  "id": 2,',
        '  "nested": {',
        '    "x": -1.5e3,',
        '    "y": null',
        '  }',
        '}',
      ].join('\n'),
    });
    // Cut short, the token-by-token pass stops early: the whole length is then unknown.
    const short = await extract(encode(raw), 'data.json', 'application/json', { maxChars: 20 });
    expect(short).toEqual({ kind: 'json', text: '{\n  "id": 1234567890', chars: 20, totalChars: null, truncated: true });
    // Tokens JSON.stringify writes back as they are take the native path; the result is the same layout.
    const spaced = '{"name": "Ann", "scores": [1, 2.5, -3], "ok": true, "none": {}}\n';
    expect(await extract(encode(spaced), 'python.json')).toMatchObject({
      kind: 'json',
      text: '{\n  "name": "Ann",\n  "scores": [\n    1,\n    2.5,\n    -3\n  ],\n  "ok": true,\n  "none": {}\n}',
      truncated: false,
    });
    // Spread over lines already, it stays as it is; invalid, it is passed on untouched.
    expect((await extract(encode('[\n  1,\n  2\n]'), 'a.json')).text).toBe('[\n  1,\n  2\n]');
    expect(await extract(encode('{"a": 1,'), 'broken.json')).toMatchObject({ kind: 'json', text: '{"a": 1,' });
    expect(await extract(encode('{"a":[1]}'), 'upload', 'application/vnd.api+json')).toMatchObject({
      kind: 'json',
      text: '{\n  "a": [\n    1\n  ]\n}',
    });
  });

  test('happy: CSV and TSV are kept cell for cell', async () => {
    const csv = 'name,amount,note\n"Smith, J.",12.50,"said ""hi"""\nLee,7,\n';
    expect(await extract(encode(csv.replaceAll('\n', '\r\n')), 'sales.csv', 'text/csv')).toEqual({
      kind: 'csv',
      text: csv,
      chars: csv.length,
      totalChars: csv.length,
      truncated: false,
    });
    expect(await extract(encode('a\tb\n1\t2'), 'sheet.tsv')).toMatchObject({ kind: 'csv', text: 'a\tb\n1\t2' });
  });

  test('happy: source code is text with its language named from the extension or the file name', async () => {
    const source = 'def greet(name):\n    return f"hi {name}"\n';
    expect(await extract(encode(source), 'src/greet.py', 'text/x-python')).toEqual({
      kind: 'code',
      language: 'python',
      text: source,
      chars: source.length,
      totalChars: source.length,
      truncated: false,
    });
    expect(await extract(encode('FROM oven/bun'), 'Dockerfile')).toMatchObject({ kind: 'code', language: 'dockerfile' });
    expect(await extract(encode('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'logo.svg', 'image/svg+xml')).toMatchObject({
      kind: 'code',
      language: 'xml',
    });
    expect(await extract(encode('<?xml version="1.0"?><a/>'), 'feed.xml')).toMatchObject({ kind: 'code', language: 'xml' });
    expect(await extract(encode('any words'), 'mystery', '')).toMatchObject({ kind: 'text', text: 'any words' });
  });

  test('happy: text that happens to start like a binary signature is still text ("BM" is a BMP\'s, "ID3" an MP3\'s)', async () => {
    const csv = 'BMW,units\nX5,100\n';
    expect(await extract(encode(csv), 'cars.csv', 'text/csv')).toMatchObject({ kind: 'csv', text: csv });
    for (const text of ['ID3 tags explained', 'MZ is an executable header', 'GIF89a is a format', 'FORM letter', '{\\rtf1 Hello}']) {
      expect(await extract(encode(text), 'notes.txt', 'text/plain')).toMatchObject({ kind: 'text', text });
    }
  });

  test('happy: UTF-16 with a byte order mark is decoded', async () => {
    const utf16 = (text: string) =>
      Uint8Array.from([0xff, 0xfe, ...[...text].flatMap((char) => [char.charCodeAt(0) & 0xff, char.charCodeAt(0) >> 8])]);
    expect(await extract(utf16('héllo'), 'old.txt')).toMatchObject({ kind: 'text', text: 'héllo' });
  });

  test('happy: a few invalid UTF-8 bytes (a Latin-1 file) become U+FFFD instead of failing', async () => {
    // "Café au lait, crème brûlée, s'il vous plaît." in Latin-1: five bytes that are not UTF-8.
    const latin1 = Uint8Array.from("Café au lait, crème brûlée, s'il vous plaît.", (char) => char.charCodeAt(0));
    expect(await extract(latin1, 'menu.txt', 'text/plain')).toMatchObject({
      kind: 'text',
      text: "Caf\uFFFD au lait, cr\uFFFDme br\uFFFDl\uFFFDe, s'il vous pla\uFFFDt.",
    });
  });

  test('error: a NUL byte, or mostly invalid UTF-8, is binary data: 415', async () => {
    const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256);
    for (const [bytes, name] of [
      [encode('text\0with a NUL'), 'a.txt'],
      [random, 'data.txt'],
      [Uint8Array.from({ length: 200 }, (_, i) => 0x80 + (i % 64)), 'weird.csv'],
    ] as const) {
      const error = await failure({ bytes, name, contentType: 'text/plain' });
      expect({ reason: error.reason, status: error.status, code: error.code }).toEqual({
        reason: 'binary',
        status: 415,
        code: 'unsupported_media_type',
      });
      expect(error.message).toBe(`${name} holds binary data, not text; text, Markdown, JSON, CSV, source code, PDF and DOCX can be`);
    }
  });
});

describe('media and other formats', () => {
  test('happy: a PNG is an image (415, reason image) so the caller can send it as an image part, whatever its name', async () => {
    for (const name of ['photo.png', 'photo.txt']) {
      const error = await failure({ bytes: png, name, contentType: 'text/plain' });
      expect({ reason: error.reason, status: error.status, mime: error.mime }).toEqual({ reason: 'image', status: 415, mime: 'image/png' });
      expect(error.message).toBe(`${name} is an image (image/png), not text: send it as an image`);
    }
  });

  test('happy: audio is refused with reason audio', async () => {
    const error = await failure({ bytes: makeWav(), name: 'memo.wav', contentType: 'audio/wav' });
    expect({ reason: error.reason, status: error.status }).toEqual({ reason: 'audio', status: 415 });
    expect(error.message).toContain('transcribe it first');
  });

  test('error: an archive or another binary format is 415 unsupported, naming what it is', async () => {
    const error = await failure({
      bytes: makeZip({ 'a.txt': 'x'.repeat(100), 'b.bin': new Uint8Array(100) }),
      name: 'bundle.zip',
      contentType: 'application/zip',
    });
    expect({ reason: error.reason, status: error.status, mime: error.mime }).toEqual({
      reason: 'unsupported',
      status: 415,
      mime: 'application/zip',
    });
  });

  test('error: input over maxBytes is 413 before anything is parsed', async () => {
    const error = await failure({ bytes: encode('x'.repeat(2000)), name: 'big.txt', contentType: 'text/plain' }, { maxBytes: 1000 });
    expect({ reason: error.reason, status: error.status }).toEqual({ reason: 'too_large', status: 413 });
    expect(error.message).toBe('big.txt is 2000 bytes; text is read from files of at most 1000 bytes');
  });

  test('error: maxChars that is not an integer ≥ 0 is a RangeError (a caller bug), not an AppError', async () => {
    for (const maxChars of [-1, 1.5, Number.NaN]) {
      await expect(extractText({ bytes: encode('x'), name: 'a.txt', contentType: 'text/plain' }, { maxChars })).rejects.toBeInstanceOf(
        RangeError,
      );
    }
  });
});

describe('the cut at maxChars', () => {
  test('happy: never inside an emoji, a surrogate pair or a combining sequence', async () => {
    const text = 'ok 👍🏽 fine 🇫🇷 e\u0301 done';
    const cut = (maxChars: number) => extract(encode(text), 'a.txt', 'text/plain', { maxChars });
    // 'ok ' is 3 code units; 👍🏽 is 4 (two surrogate pairs, one cluster): cutting at 4, 5 or 6 keeps none of it.
    for (const maxChars of [4, 5, 6])
      expect(await cut(maxChars)).toMatchObject({ text: 'ok ', chars: 3, truncated: true, totalChars: text.length });
    expect((await cut(7)).text).toBe('ok 👍🏽');
    // 'e' + U+0301 is one character of two code units.
    expect((await cut(text.indexOf('e\u0301') + 1)).text).toBe('ok 👍🏽 fine 🇫🇷 ');
    expect((await cut(text.indexOf('🇫🇷') + 2)).text).toBe('ok 👍🏽 fine ');
    expect(await cut(text.length)).toMatchObject({ text, truncated: false });
    expect(await cut(0)).toMatchObject({ text: '', chars: 0, truncated: true });
  });

  test('happy: any cut is a prefix, within maxChars, and well-formed UTF-16', async () => {
    // Control characters, CR and a leading byte order mark are excluded: they are not kept as they are.
    const readable = fc
      .string({ unit: 'grapheme', maxLength: 60 })
      .filter((text) => ![...text].some((char) => char < ' ' || char === '\uFEFF' || char === '\uFFFD'));
    await fc.assert(
      fc.asyncProperty(readable, fc.nat(120), async (text, maxChars) => {
        const result = await extract(encode(text), 'a.txt', 'text/plain', { maxChars });
        expect(text.startsWith(result.text)).toBe(true);
        expect(result.chars).toBe(result.text.length);
        expect(result.chars).toBeLessThanOrEqual(maxChars);
        expect(result.text.isWellFormed()).toBe(true);
        expect(result.truncated).toBe(result.text.length < text.length);
      }),
      { numRuns: 300 },
    );
  });
});
