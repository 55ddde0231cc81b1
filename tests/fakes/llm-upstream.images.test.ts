// The fake upstream takes image content as the real APIs do, and refuses what they refuse, driven
// through the real SDKs: so a provider that translated images wrongly fails against it.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { expectedReply, type FakeUpstream, startFakeUpstream } from './llm-upstream.ts';

let fake: FakeUpstream;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  fake = await startFakeUpstream();
  openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseURL, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseURL, maxRetries: 0 });
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const data = Buffer.from('pretend these are PNG bytes').toString('base64');

/** The content of the first message of the first request the fake received. */
const firstContent = () => (fake.requests[0]?.body as { messages?: { content: unknown }[] } | undefined)?.messages?.[0]?.content;

async function status(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status?: number }).status;
  }
}

describe('OpenAI Chat Completions', () => {
  const ask = (url: string, role: 'user' | 'assistant' = 'user') =>
    openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        role === 'user'
          ? {
              role,
              content: [
                { type: 'text', text: 'what is this' },
                { type: 'image_url', image_url: { url } },
              ],
            }
          : ({ role, content: [{ type: 'image_url', image_url: { url } }] } as never),
        ...(role === 'assistant' ? [{ role: 'user' as const, content: 'and?' }] : []),
      ],
    });

  test('happy: image_url parts (a data URL or an http URL) are taken and recorded; the reply answers the text', async () => {
    const reply = await ask(`data:image/png;base64,${data}`);
    expect(reply.choices[0]?.message.content).toBe(expectedReply('what is this'));
    expect(await status(ask('https://example.com/cat.png'))).toBe(200);
    expect(firstContent()).toEqual([
      { type: 'text', text: 'what is this' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } },
    ]);
  });

  test.each([
    ['data:image/bmp;base64,AAAA', 'an unsupported format'],
    ['data:image/png;base64,not base64', 'data that is not base64'],
    ['ftp://example.com/cat.png', 'a URL that is not http(s)'],
  ])('error: 400 for an image_url of %s (%s)', async (url) => {
    expect(await status(ask(url))).toBe(400);
  });

  test('error: 400 for an image in an assistant turn', async () => {
    expect(await status(ask(`data:image/png;base64,${data}`, 'assistant'))).toBe(400);
  });
});

describe('Anthropic Messages', () => {
  const ask = (source: Anthropic.ImageBlockParam['source'], role: 'user' | 'assistant' = 'user') =>
    anthropic.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 16,
      messages: [
        {
          role,
          content: [
            { type: 'text', text: 'what is this' },
            { type: 'image', source },
          ],
        },
        ...(role === 'assistant' ? [{ role: 'user' as const, content: 'and?' }] : []),
      ],
    });

  test('happy: image blocks with a base64 or url source are taken and recorded', async () => {
    const reply = await ask({ type: 'base64', media_type: 'image/png', data });
    expect(reply.content.find((block) => block.type === 'text')).toMatchObject({ text: expectedReply('what is this') });
    expect(await status(ask({ type: 'url', url: 'https://example.com/cat.png' }))).toBe(200);
    expect(firstContent()).toEqual([
      { type: 'text', text: 'what is this' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data } },
    ]);
  });

  test.each([
    [{ type: 'base64', media_type: 'image/bmp', data } as never, 'an unsupported media type'],
    [{ type: 'base64', media_type: 'image/png', data: 'not base64' } as const, 'data that is not base64'],
    [{ type: 'url', url: 'file:///etc/passwd' } as const, 'a URL that is not http(s)'],
  ])('error: 400 for an image source %j (%s)', async (source) => {
    expect(await status(ask(source))).toBe(400);
  });

  test('error: 400 for an image in an assistant turn', async () => {
    expect(await status(ask({ type: 'base64', media_type: 'image/png', data }, 'assistant'))).toBe(400);
  });
});
