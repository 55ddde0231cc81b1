// Structured content (text and image parts), vision lists and the one check that refuses images
// a model cannot take: the pieces every provider and the reply engine rely on.
import { describe, expect, test } from 'bun:test';
import { parseConfig } from '../../src/config/index.ts';
import {
  base64ByteLength,
  contentText,
  createVisionCheck,
  dataUrlOf,
  describeImage,
  estimateContentTokens,
  hasImages,
  IMAGE_TOKEN_ESTIMATE,
  imagePartFromUrl,
  imageRefusal,
  OLLAMA_IMAGE_INPUT,
} from '../../src/infra/llm/index.ts';
import { estimateUsage } from '../../src/infra/llm/shared.ts';
import { type ChatMessage, type ContentPart, ModelCannotTakeImagesError } from '../../src/infra/llm/types.ts';

const bytes = (n: number) => Buffer.alloc(n, 7).toString('base64');
const png = (n = 1234): ContentPart => ({ type: 'image', mediaType: 'image/png', data: bytes(n) });
const ask = (...parts: ContentPart[]): ChatMessage[] => [{ role: 'user', content: parts }];
const defaults = parseConfig({ JWT_SECRET: 'x'.repeat(40) }).llm.visionModels;

describe('content parts', () => {
  test('happy: the text of a turn is the string itself, or its text parts joined by a newline', () => {
    expect(contentText('just text')).toBe('just text');
    expect(contentText([{ type: 'text', text: 'one' }, png(), { type: 'text', text: 'two' }])).toBe('one\ntwo');
    expect(contentText([png()])).toBe('');
  });

  test('happy: base64 sizes and data URLs, without decoding', () => {
    for (const n of [0, 1, 2, 3, 4, 1234]) expect(base64ByteLength(bytes(n))).toBe(n);
    expect(dataUrlOf({ type: 'image', mediaType: 'image/webp', data: 'AAAA' })).toBe('data:image/webp;base64,AAAA');
  });

  test('happy: imagePartFromUrl turns a base64 data URL into bytes and keeps an http(s) URL', () => {
    expect(imagePartFromUrl('data:image/png;base64,AAAA')).toEqual({ type: 'image', mediaType: 'image/png', data: 'AAAA' });
    expect(imagePartFromUrl('data:image/JPG;base64,AAAA')).toEqual({ type: 'image', mediaType: 'image/jpeg', data: 'AAAA' });
    expect(imagePartFromUrl('https://example.com/cat.png?size=2')).toEqual({ type: 'image', url: 'https://example.com/cat.png?size=2' });
  });

  test.each([
    'data:image/bmp;base64,AAAA',
    'data:image/png;base64,not base64!',
    'data:image/png,rawbytes',
    'ftp://example.com/cat.png',
    'file:///etc/passwd',
    'not a url',
  ])('error: imagePartFromUrl refuses %s', (url) => {
    expect(imagePartFromUrl(url)).toBeUndefined();
  });

  test('happy: token estimates count text as before and a fixed cost per image', () => {
    expect(estimateContentTokens('abcdefgh')).toBe(2);
    expect(estimateContentTokens([{ type: 'text', text: 'abcdefgh' }, png(), png()])).toBe(2 + 2 * IMAGE_TOKEN_ESTIMATE);
    // Text-only usage is estimated exactly as it always was.
    expect(estimateUsage({ messages: [{ role: 'user', content: 'abcd' }], system: 'efgh' }, 'ijklmnop')).toEqual({
      inputTokens: 2,
      outputTokens: 2,
    });
    expect(estimateUsage({ messages: ask({ type: 'text', text: 'abcd' }, png()) }, '').inputTokens).toBe(1 + IMAGE_TOKEN_ESTIMATE);
  });

  test('happy: echo describes an image by its format and decoded size, or by its URL', () => {
    expect(describeImage({ type: 'image', mediaType: 'image/png', data: bytes(1234) })).toBe('[image image/png 1234 bytes]');
    expect(describeImage({ type: 'image', url: 'https://example.com/a.png' })).toBe('[image https://example.com/a.png]');
  });
});

describe('vision lists', () => {
  const supports = createVisionCheck(defaults);

  test.each([
    ['openai', 'gpt-4o-mini'],
    ['openai', 'GPT-4o'],
    ['openai', 'gpt-4.1-nano'],
    ['openai', 'gpt-5'],
    ['openai', 'gpt-5.5'],
    ['openai', 'gpt-5.4-mini'],
    ['anthropic', 'claude-3-5-sonnet-20241022'],
    ['anthropic', 'claude-sonnet-5-5'],
    ['anthropic', 'claude-opus-5-5'],
    ['anthropic', 'claude-haiku-5-5'],
    ['anthropic', 'claude-sonnet-4-5'],
    ['anthropic', 'claude-opus-4-7'],
    ['ollama', 'llava'],
    ['ollama', 'llava:13b'],
    ['ollama', 'llama3.2-vision:11b'],
    ['echo', 'echo'],
  ] as const)('happy: by default %s/%s takes images', (provider, model) => {
    expect(supports(provider, model)).toBe(true);
  });

  test.each([
    ['openai', 'gpt-3.5-turbo'],
    ['openai', 'o3-mini'],
    ['anthropic', 'claude-2.1'],
    ['anthropic', 'claude-instant-1.2'],
    ['ollama', 'llama3.2'],
    ['ollama', 'qwen2.5:0.5b'],
  ] as const)('error: by default %s/%s takes no images', (provider, model) => {
    expect(supports(provider, model)).toBe(false);
  });

  test('happy: patterns are globs, case-insensitive; an Ollama name matches with or without :latest', () => {
    const check = createVisionCheck({ openai: ['*/gpt-4o*', 'my-model'], anthropic: [], ollama: ['vision-model', 'other:latest'] });
    expect(check('openai', 'openai/gpt-4o-mini')).toBe(true);
    expect(check('openai', 'MY-MODEL')).toBe(true);
    expect(check('openai', 'my-model-2')).toBe(false);
    expect(check('anthropic', 'claude-sonnet-4-5')).toBe(false);
    expect(check('ollama', 'vision-model:latest')).toBe(true);
    expect(check('ollama', 'other')).toBe(true);
    expect(check('ollama', 'vision-model:7b')).toBe(false);
  });
});

describe('imageRefusal', () => {
  const target = { provider: 'openai' as const, model: 'gpt-4o', vision: true };
  const reasonOf = (messages: ChatMessage[], over: Partial<Parameters<typeof imageRefusal>[1]> = {}) =>
    imageRefusal(messages, { ...target, ...over })?.details.reason;

  test('happy: text, and images a vision model takes, are never refused', () => {
    expect(imageRefusal([{ role: 'user', content: 'plain' }], { ...target, vision: false })).toBeUndefined();
    expect(imageRefusal(ask({ type: 'text', text: 'only text' }), { ...target, vision: false })).toBeUndefined();
    expect(reasonOf(ask({ type: 'text', text: 'look' }, png(), { type: 'image', url: 'https://example.com/a.gif' }))).toBeUndefined();
    expect(hasImages(ask(png()))).toBe(true);
    expect(hasImages([{ role: 'user', content: 'x' }])).toBe(false);
  });

  test('error: a model without vision refuses, naming the model and where the image is', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok' },
      ...ask({ type: 'text', text: 'and' }, png()),
    ];
    const refused = imageRefusal(messages, { ...target, model: 'gpt-3.5-turbo', vision: false });
    expect(refused).toBeInstanceOf(ModelCannotTakeImagesError);
    expect(refused?.message).toBe('The model openai/gpt-3.5-turbo cannot take images; choose a vision model');
    expect(refused?.details).toEqual({ provider: 'openai', model: 'gpt-3.5-turbo', reason: 'no_vision', messageIndex: 2, partIndex: 1 });
  });

  test('error: Ollama takes images as data only, and no GIF', () => {
    const ollama = { provider: 'ollama' as const, model: 'llava', input: OLLAMA_IMAGE_INPUT };
    expect(reasonOf(ask(png()), ollama)).toBeUndefined();
    expect(reasonOf(ask({ type: 'image', url: 'https://example.com/a.png' }), ollama)).toBe('url');
    expect(reasonOf(ask({ type: 'image', mediaType: 'image/gif', data: 'AAAA' }), ollama)).toBe('media_type');
    expect(imageRefusal(ask({ type: 'image', mediaType: 'image/gif', data: 'AAAA' }), { ...target, ...ollama })?.message).toBe(
      'ollama does not take image/gif images (it takes image/png, image/jpeg, image/webp)',
    );
  });

  test('error: malformed images and images in an assistant turn are refused whatever the model', () => {
    expect(reasonOf(ask({ type: 'image', mediaType: 'image/png', data: 'not base64!' }))).toBe('malformed');
    expect(reasonOf(ask({ type: 'image', mediaType: 'image/png', data: '' }))).toBe('malformed');
    expect(reasonOf(ask({ type: 'image', url: 'javascript:alert(1)' }))).toBe('malformed');
    expect(reasonOf([{ role: 'assistant', content: [png()] }])).toBe('assistant_turn');
  });
});
