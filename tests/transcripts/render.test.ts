// The pure parts of transcripts: download file names and headers (RFC 6266), Markdown and text
// rendering of awkward titles, and the marks on search snippets (infra/db/fulltext.ts).
import { describe, expect, test } from 'bun:test';
import { parse as parseContentDisposition } from 'content-disposition';
import { highlightTerms, searchTerms } from '../../src/infra/db/fulltext.ts';
import type { Transcript } from '../../src/modules/transcripts/model.ts';
import { attachmentHeader, fileNameFor, toMarkdown, toPlainText } from '../../src/modules/transcripts/render.ts';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const boundariesOf = (text: string) => new Set([...[...segmenter.segment(text)].map((segment) => segment.index), text.length]);
const family = '👩‍👩‍👧‍👦';

describe('download file names', () => {
  test('happy: the title, made safe for file systems and headers', () => {
    expect(fileNameFor('Weekly sync', 'md')).toBe('Weekly sync.md');
    expect(fileNameFor('a/b\\c:d*e?f"g<h>i|j', 'txt')).toBe('a-b-c-d-e-f-g-h-i-j.txt');
    expect(fileNameFor('line\nbreak\ttab', 'md')).toBe('line-break-tab.md');
    expect(fileNameFor('  ..hidden  spaces.. ', 'md')).toBe('hidden spaces.md');
    expect(fileNameFor('...', 'md')).toBe('transcript.md');
    expect(fileNameFor('', 'txt')).toBe('transcript.txt');
  });

  test('happy: a long title is cut between characters, never inside an emoji', () => {
    const name = fileNameFor(`${'a'.repeat(98)}${family}tail`, 'md');
    expect(name).toBe(`${'a'.repeat(98)}.md`);
    // q + U+0301 has no precomposed form: two code units that must stay together.
    const accented = fileNameFor(`${'b'.repeat(99)}q\u0301`, 'md');
    expect(accented).toBe(`${'b'.repeat(99)}.md`);
  });

  test('happy: Content-Disposition is an attachment; non-ASCII names get an ASCII filename and the exact one in filename*', () => {
    expect(attachmentHeader('plain.md')).toBe('attachment; filename=plain.md');
    expect(attachmentHeader('with space.md')).toBe('attachment; filename="with space.md"');
    const header = attachmentHeader(`Café ${family}.txt`);
    expect(header).toBe(`attachment; filename="Cafe _.txt"; filename*=UTF-8''${encodeURIComponent(`Café ${family}.txt`)}`);
    expect(parseContentDisposition(header).parameters.filename).toBe(`Café ${family}.txt`);
    // Whatever a name holds, the header parses back to it.
    for (const name of ['a "quoted" name.md', 'back\\slash.md', '100% sure.md', "it's.md", '日本語.md']) {
      expect(parseContentDisposition(attachmentHeader(name)).parameters.filename).toBe(name);
    }
  });
});

describe('rendering', () => {
  const transcript: Transcript = {
    id: 't1',
    chatId: 'c1',
    branch: null,
    title: 'A *bold* [link]\nwith a break',
    notes: null,
    tags: ['x_y'],
    messageCount: 1,
    createdAt: '2025-01-02T03:04:05.006Z',
    updatedAt: '2025-01-02T03:04:05.006Z',
    messages: [
      {
        position: 0,
        messageId: 'm1',
        role: 'system',
        content: '# kept as written',
        provider: null,
        model: 'some-model',
        attachments: [],
        createdAt: '2025-01-01T00:00:00.000Z',
      },
    ],
  };

  test('happy: Markdown escapes the title and tags (one line each) and keeps message text as written', () => {
    expect(toMarkdown(transcript)).toBe(
      [
        '# A \\*bold\\* \\[link\\] with a break',
        '',
        '- Taken: 2025-01-02T03:04:05.006Z',
        '- Chat: c1',
        '- Tags: x\\_y',
        '- Messages: 1',
        '',
        '## System (some-model) · 2025-01-01T00:00:00.000Z',
        '',
        '# kept as written',
        '',
      ].join('\n'),
    );
  });

  test('happy: plain text puts the title on one line and leaves everything unescaped', () => {
    expect(toPlainText(transcript)).toBe(
      [
        'A *bold* [link] with a break',
        'Taken: 2025-01-02T03:04:05.006Z',
        'Chat: c1',
        'Tags: x_y',
        'Messages: 1',
        '',
        'System (some-model) · 2025-01-01T00:00:00.000Z',
        '# kept as written',
        '',
      ].join('\n'),
    );
  });

  test('happy: an empty transcript still renders its header', () => {
    expect(toPlainText({ ...transcript, messages: [], messageCount: 0 })).toEndWith('Messages: 0\n');
    expect(toMarkdown({ ...transcript, messages: [], messageCount: 0 })).toEndWith('- Messages: 0\n');
  });
});

describe('search highlights', () => {
  const marks = (snippet: string, query: string) => highlightTerms(snippet, searchTerms(query)).map((h) => snippet.slice(h.start, h.end));

  test('happy: whole words for every term, any word starting with the last one; case and accents folded', () => {
    expect(marks('Deploy the deployment, then redeploy', 'deplo')).toEqual(['Deploy', 'deployment']);
    expect(marks('Deploy the deployment', 'deploy the')).toEqual(['Deploy', 'the']);
    expect(marks('Un café crème', 'CAFE')).toEqual(['café']);
    expect(marks('Un cafe\u0301 crème', 'café creme')).toEqual(['cafe\u0301', 'crème']);
    expect(marks('nothing here', 'absent')).toEqual([]);
    expect(highlightTerms('anything', [])).toEqual([]);
  });

  test('happy: marks start and end between characters, next to emoji, keycaps and combining marks', () => {
    for (const snippet of [
      `…${family}needle${family} w1…`,
      '1\uFE0F\u20E3 needle 1\uFE0F\u20E3',
      'needle\u0301 and needle',
      `👍🏽needle🇫🇷`,
      'क्षा needle क्षा',
    ]) {
      const ranges = highlightTerms(snippet, ['needle']);
      expect(ranges.length).toBeGreaterThan(0);
      const boundaries = boundariesOf(snippet);
      for (const range of ranges) {
        expect(boundaries.has(range.start) && boundaries.has(range.end)).toBe(true);
        expect(snippet.slice(range.start, range.end).normalize('NFD').replace(/\p{M}/gu, '')).toBe('needle');
      }
    }
  });

  test('happy: marks are in order and never overlap', () => {
    const ranges = highlightTerms('a b a b a', ['a', 'b']);
    expect(ranges).toEqual([
      { start: 0, end: 1 },
      { start: 2, end: 3 },
      { start: 4, end: 5 },
      { start: 6, end: 7 },
      { start: 8, end: 9 },
    ]);
  });
});
