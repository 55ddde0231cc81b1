// The shared input checks (src/http/input-check.ts) that HTTP bodies, queries, paths and websocket
// frames all go through, and the JSON media types the request guard takes (request-log.ts).
import { describe, expect, test } from 'bun:test';
import { findUnfitInput, jsonDepthScanner, maxJsonDepth, textProblem, unfitFrame } from '../../src/http/input-check.ts';
import { isJsonType } from '../../src/http/request-log.ts';
import { isStorableTime, maxStorableTimeMs } from '../../src/http/time.ts';

const nestedArrays = (levels: number, inner: unknown = 'x'): unknown => {
  let value = inner;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
};

/** Feeds `text` to a depth scanner in pieces of `size` bytes; the error it throws, if any. */
function scan(text: string, size: number, maxDepth = maxJsonDepth): { field?: string } | undefined {
  const bytes = new TextEncoder().encode(text);
  const feed = jsonDepthScanner('body', maxDepth);
  try {
    for (let offset = 0; offset < bytes.length; offset += size) feed(bytes.subarray(offset, offset + size));
  } catch (error) {
    return { field: (error as { options: { details: { field: string }[] } }).options.details[0]!.field };
  }
  return undefined;
}

describe('findUnfitInput', () => {
  test('happy: ordinary JSON, emoji (surrogate pairs), numbers of any size and empty keys are fit', () => {
    const value = {
      title: 'hello 😀',
      n: [1e308, -0, 2 ** 53],
      nested: { '': null, ok: [true, false] },
      deep: nestedArrays(maxJsonDepth - 2),
    };
    expect(findUnfitInput(value, 'body')).toBeUndefined();
  });

  test('error: NUL and lone surrogates in values or keys are named by their path', () => {
    expect(findUnfitInput({ a: { b: ['ok', 'x\u0000'] } }, 'body')).toEqual({ field: 'body.a.b.1', message: 'may not contain U+0000' });
    expect(findUnfitInput({ a: 'lone \ud800' }, 'frame')?.field).toBe('frame.a');
    expect(findUnfitInput({ a: 'low \udc00 first' }, 'body')?.field).toBe('body.a');
    expect(findUnfitInput({ 'k\u0000': 1 }, 'body')).toEqual({ field: 'body.k\\u0000', message: 'may not contain U+0000' });
    // A lone surrogate in a key is shown as U+FFFD: the error body stays well-formed text.
    expect(findUnfitInput({ '\udfff': 1 }, 'body')?.field).toBe('body.\ufffd');
    expect(findUnfitInput('a\u0000', 'params')?.field).toBe('params');
  });

  test('error: the first problem in document order is the one reported', () => {
    expect(findUnfitInput({ first: '\u0000', second: '\ud800' }, 'body')?.field).toBe('body.first');
    expect(findUnfitInput([['\ud800'], '\u0000'], 'body')?.field).toBe('body.0.0');
  });

  test(`error: nesting past ${maxJsonDepth} levels is reported at the top field, at any depth, without overflowing the stack`, () => {
    expect(findUnfitInput(nestedArrays(maxJsonDepth), 'body')).toBeUndefined();
    expect(findUnfitInput(nestedArrays(maxJsonDepth + 1), 'body')).toEqual({
      field: 'body.0',
      message: `is nested deeper than ${maxJsonDepth} levels of objects and arrays`,
    });
    expect(findUnfitInput({ title: nestedArrays(200_000) }, 'body')?.field).toBe('body.title');
  });

  test('happy: textProblem passes well-formed text, including U+FFFD and a surrogate pair', () => {
    expect(['', 'a', '\ufffd', '\ud83d\ude00', '\u2028'].map(textProblem)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('unfitFrame (the websocket form)', () => {
  test('error: an error frame naming the field, echoing a fit requestId but not an unfit one', () => {
    expect(unfitFrame({ type: 'chat.send', content: 'a\u0000', requestId: 'r1' })).toEqual({
      type: 'error',
      code: 'validation_error',
      message: 'frame.content may not contain U+0000',
      details: [{ field: 'frame.content', message: 'may not contain U+0000' }],
      requestId: 'r1',
    });
    expect(unfitFrame({ type: 'ping', requestId: 'r\u0000' })).not.toHaveProperty('requestId');
    expect(unfitFrame({ type: 'ping', requestId: nestedArrays(100) })).not.toHaveProperty('requestId');
    expect(unfitFrame({ type: 'ping', content: '\u0000', requestId: 7 })?.requestId).toBe(7);
    expect(unfitFrame({ type: 'ping' })).toBeUndefined();
  });
});

describe('jsonDepthScanner', () => {
  test(`happy: ${maxJsonDepth} levels pass, ${maxJsonDepth + 1} are refused, whatever the chunk size`, () => {
    const at = `${'['.repeat(maxJsonDepth)}${']'.repeat(maxJsonDepth)}`;
    const over = `{"a":${'['.repeat(maxJsonDepth)}${']'.repeat(maxJsonDepth)}}`;
    for (const size of [1, 3, 7, 1024]) {
      expect(scan(at, size)).toBeUndefined();
      expect(scan(over, size)).toEqual({ field: 'body' });
    }
  });

  test('happy: brackets inside strings, after escaped quotes and backslashes, split across chunks, are not counted', () => {
    const text = JSON.stringify({ s: `"[[[[{{{{\\"${'['.repeat(500)}`, t: '\\', u: ['\\"[', '{'] });
    for (const size of [1, 2, 5, 64]) expect(scan(text, size, 3)).toBeUndefined();
    expect(scan(`["\\\\", [[[[1]]]]]`, 1, 3)).toEqual({ field: 'body' });
  });

  test('happy: siblings do not add up: depth falls back as containers close', () => {
    const wide = `[${Array.from({ length: 1000 }, () => '[[1]]').join(',')}]`;
    expect(scan(wide, 10, 3)).toBeUndefined();
  });
});

describe('JSON media types', () => {
  test('happy: application/json, any case, UTF-8 charsets, and +json types', () => {
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF8',
      'Application/JSON; charset="utf-8"',
      'application/json ; foo=bar',
      'application/vnd.api+json',
      'application/merge-patch+json; charset=utf-8',
    ])
      expect([type, isJsonType(type)]).toEqual([type, true]);
  });

  test('error: other types, other charsets and look-alikes', () => {
    for (const type of [
      null,
      '',
      'application/json-seq',
      'application/jsonx',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'text/json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain',
      'application/+json+xml',
    ])
      expect([type, isJsonType(type)]).toEqual([type, false]);
  });
});

describe('storable times', () => {
  test('happy: 1970 to the end of 9999; error: beyond, before, fractional or not a number', () => {
    expect([0, Date.now(), maxStorableTimeMs].every(isStorableTime)).toBe(true);
    expect([maxStorableTimeMs + 1, -1, 1.5, 1e20, Number.NaN, '1'].some(isStorableTime)).toBe(false);
  });
});
