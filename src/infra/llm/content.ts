// Structured message content (text and images, types.ts), read the same way everywhere: the
// providers translating it, token estimates, echo, and the one check that a request's images may
// go to a model (imageRefusal) before anything is sent upstream.

import type { ChatMessage, ContentPart, ImageInput, ImageMediaType, ImagePart, MessageContent, ProviderName } from './types.ts';
import { IMAGE_MEDIA_TYPES, ModelCannotTakeImagesError } from './types.ts';

export type Base64Image = Extract<ImagePart, { data: string }>;
export type UrlImage = Extract<ImagePart, { url: string }>;

/** Every form and format (IMAGE_MEDIA_TYPES) by URL or as bytes: what OpenAI, Anthropic and echo take. */
export const ANY_IMAGE_INPUT: ImageInput = { urls: true, mediaTypes: IMAGE_MEDIA_TYPES };

const isImage = (part: ContentPart): part is ImagePart => part.type === 'image';
export const isBase64Image = (part: ImagePart): part is Base64Image => 'data' in part;

/**
 * The text of a turn: the string itself, or its text parts joined by a newline, images left out.
 * For titles, word counts and estimates; never to rebuild what goes upstream.
 */
export function contentText(content: MessageContent): string {
  if (typeof content === 'string') return content;
  return content
    .filter((part) => part.type === 'text')
    .map((part) => part.text)
    .join('\n');
}

/** The image parts of a turn, in order (none for a string). */
export function imagesOf(content: MessageContent): ImagePart[] {
  return typeof content === 'string' ? [] : content.filter(isImage);
}

/** Whether any turn carries an image. */
export function hasImages(messages: readonly ChatMessage[]): boolean {
  return messages.some((message) => typeof message.content !== 'string' && message.content.some(isImage));
}

/** How many bytes standard base64 `data` decodes to, from its length and padding (nothing decoded). */
export function base64ByteLength(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
}

/** An image's bytes as a `data:` URL (`data:image/png;base64,…`), as OpenAI-compatible APIs take them. */
export function dataUrlOf(part: Base64Image): string {
  return `data:${part.mediaType};base64,${part.data}`;
}

/** Standard base64, padded, nothing else (no whitespace, no URL-safe alphabet). */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const isBase64 = (data: string) => data.length % 4 === 0 && BASE64.test(data);
const isHttpUrl = (url: string) => /^https?:$/.test(URL.parse(url)?.protocol ?? '');
const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,(.*)$/is;

/**
 * An image part from what OpenAI's `image_url.url` holds: a base64 `data:` URL of an
 * IMAGE_MEDIA_TYPES format (`image/jpg` read as `image/jpeg`) becomes bytes, an http(s) URL stays
 * a link. Anything else (another format, data that is not base64, another scheme): undefined.
 */
export function imagePartFromUrl(url: string): ImagePart | undefined {
  const data = DATA_URL.exec(url);
  if (data) {
    const type = data[1]!.toLowerCase().replace(/^image\/jpg$/, 'image/jpeg');
    const base64 = data[2]!;
    if (!(IMAGE_MEDIA_TYPES as readonly string[]).includes(type) || !isBase64(base64)) return undefined;
    return { type: 'image', mediaType: type as ImageMediaType, data: base64 };
  }
  return isHttpUrl(url) ? { type: 'image', url } : undefined;
}

/** What a request's images are checked against: the model's vision (vision.ts) and its provider's ImageInput. */
export type ImageTarget = { provider: ProviderName; model: string; vision: boolean; input?: ImageInput | undefined };

/**
 * Why the first image that cannot go to `target` is refused, or undefined when every image may go
 * (a request without images always may). Checked per image in this order: in an assistant turn,
 * malformed (data not base64, url not http(s)), the model takes no images, given by URL to a
 * provider that takes bytes only, a format the provider does not take.
 */
export function imageRefusal(messages: readonly ChatMessage[], target: ImageTarget): ModelCannotTakeImagesError | undefined {
  const { provider, model } = target;
  const input = target.input ?? ANY_IMAGE_INPUT;
  for (const [messageIndex, message] of messages.entries()) {
    if (typeof message.content === 'string') continue;
    for (const [partIndex, part] of message.content.entries()) {
      if (!isImage(part)) continue;
      const where = `messages.${messageIndex}.content.${partIndex}`;
      const refuse = (reason: ModelCannotTakeImagesError['details']['reason'], text: string) =>
        new ModelCannotTakeImagesError(text, { provider, model, reason, messageIndex, partIndex });
      if (message.role !== 'user') return refuse('assistant_turn', `Images can only be sent in user turns (${where} is an assistant's)`);
      if (isBase64Image(part) ? !isBase64(part.data) : !isHttpUrl(part.url)) {
        return refuse('malformed', isBase64Image(part) ? `Image ${where} is not valid base64` : `Image ${where} is not an http(s) URL`);
      }
      if (!target.vision) return refuse('no_vision', `The model ${provider}/${model} cannot take images; choose a vision model`);
      if (!isBase64Image(part)) {
        if (!input.urls) return refuse('url', `${provider} takes images as data only, not by URL: send the image's bytes (${where})`);
      } else if (!input.mediaTypes.includes(part.mediaType)) {
        return refuse('media_type', `${provider} does not take ${part.mediaType} images (it takes ${input.mediaTypes.join(', ')})`);
      }
    }
  }
  return undefined;
}
