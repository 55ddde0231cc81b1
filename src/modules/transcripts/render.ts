// A transcript as a download: Markdown or plain text, and the Content-Disposition that names the
// file after its title (RFC 6266: an ASCII `filename` for old clients, the exact name in
// `filename*`, RFC 8187). Pure functions of the stored transcript, so a download is the same
// every time it is asked for.
import { create as contentDisposition } from 'content-disposition';
import { truncateGraphemes } from '../../text/graphemes.ts';
import type { Transcript, TranscriptFormat, TranscriptMessage } from './model.ts';

export type Download = { body: string; contentType: string; contentDisposition: string };

const roleNames: Record<TranscriptMessage['role'], string> = { user: 'User', assistant: 'Assistant', system: 'System', tool: 'Tool' };
const maxFileNameLength = 100;

/** "Assistant (openai/gpt-4o)", "User": who wrote a message, and with which model. */
function speaker(message: TranscriptMessage): string {
  const model = message.model ? (message.provider ? `${message.provider}/${message.model}` : message.model) : null;
  return model ? `${roleNames[message.role]} (${model})` : roleNames[message.role];
}

/** One line: line breaks and other controls become spaces (a title or tag is shown on one line). */
const oneLine = (text: string) => text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim();

/** Backslash before the characters that would start inline Markdown (emphasis, code, links, HTML, tables). */
const escapeMarkdown = (text: string) => text.replace(/[\\`*_[\]<>|~#]/g, '\\$&');

/**
 * The transcript as Markdown: a title heading, its facts as a list, the notes, then each message
 * under a heading naming who wrote it and when. Message text is written as it is (it is
 * usually Markdown already); titles, tags and file names are escaped.
 */
export function toMarkdown(transcript: Transcript): string {
  const lines = [`# ${escapeMarkdown(oneLine(transcript.title))}`, '', `- Taken: ${transcript.createdAt}`, `- Chat: ${transcript.chatId}`];
  if (transcript.branch) lines.push(`- Branch: ${transcript.branch}`);
  if (transcript.tags.length) lines.push(`- Tags: ${transcript.tags.map((tag) => escapeMarkdown(oneLine(tag))).join(', ')}`);
  lines.push(`- Messages: ${transcript.messages.length}`, '');
  if (transcript.notes) lines.push('## Notes', '', transcript.notes, '');
  for (const message of transcript.messages) {
    lines.push(`## ${speaker(message)} · ${message.createdAt}`, '', message.content, '');
    if (message.attachments.length) lines.push(`Attachments: ${message.attachments.map(escapeMarkdown).join(', ')}`, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The transcript as plain text: the title, its facts, the notes, then each message after a line naming who wrote it and when. */
export function toPlainText(transcript: Transcript): string {
  const lines = [oneLine(transcript.title), `Taken: ${transcript.createdAt}`, `Chat: ${transcript.chatId}`];
  if (transcript.branch) lines.push(`Branch: ${transcript.branch}`);
  if (transcript.tags.length) lines.push(`Tags: ${transcript.tags.map(oneLine).join(', ')}`);
  lines.push(`Messages: ${transcript.messages.length}`, '');
  if (transcript.notes) lines.push('Notes:', transcript.notes, '');
  for (const message of transcript.messages) {
    lines.push(`${speaker(message)} · ${message.createdAt}`, message.content);
    if (message.attachments.length) lines.push(`Attachments: ${message.attachments.join(', ')}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/**
 * The download's file name, from the title: characters that file systems or headers refuse
 * (controls, / \ : * ? " < > |) become `-`, spaces are squeezed, leading and trailing dots and
 * spaces go, and it is cut between characters to 100 code units; `transcript` when nothing is left.
 */
export function fileNameFor(title: string, extension: string): string {
  const cleaned = title
    .normalize('NFC')
    .replace(/[\p{Cc}\u2028\u2029/\\:*?"<>|]/gu, '-')
    .replace(/\s+/gu, ' ')
    .replace(/^[\s.]+|[\s.]+$/gu, '');
  const base = truncateGraphemes(cleaned, maxFileNameLength, '').replace(/[\s.]+$/u, '') || 'transcript';
  return `${base}.${extension}`;
}

/** An ASCII stand-in for `name` (accents dropped, anything else non-ASCII as `_`): the `filename` old clients read. */
function asciiFileName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7e]+/g, '_')
    .replace(/[%\\"]/g, '_');
}

/** The Content-Disposition of a download of `fileName`: `attachment`, with `filename*` too when the name is not plain ASCII. */
export function attachmentHeader(fileName: string): string {
  const fallback = asciiFileName(fileName);
  return contentDisposition(fileName, { type: 'attachment', fallback: fallback === fileName ? true : fallback });
}

/** The transcript in `format` (md or txt) as a download. */
export function download(transcript: Transcript, format: Exclude<TranscriptFormat, 'json'>): Download {
  const markdown = format === 'md';
  return {
    body: markdown ? toMarkdown(transcript) : toPlainText(transcript),
    contentType: markdown ? 'text/markdown; charset=utf-8' : 'text/plain; charset=utf-8',
    contentDisposition: attachmentHeader(fileNameFor(transcript.title, format)),
  };
}
