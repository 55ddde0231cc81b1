// Several attachments' texts fitted into one token budget (a share of CONTEXT_TOKEN_BUDGET, say),
// with a note for each that was cut or left out, so the caller can tell the user what the model
// did not see. The budget is shared fairly: attachments smaller than an equal share are kept
// whole, and what they leave is split among the larger ones, each cut to its part (water-filling).
// Tokens are counted with the same estimator as the chat history (estimateTokens), wrapper included.

import { estimateTokens } from '../../infra/llm/shared.ts';
import { graphemeFloor } from '../../text/graphemes.ts';
import type { ExtractedText } from './extract.ts';

/** An attachment's extracted text and the name it is shown under. */
export type AttachmentText = ExtractedText & { name: string };

/** An attachment as it goes into the prompt: `text` possibly cut further; `note` says how, when it was cut. */
export type FittedAttachment = AttachmentText & { note?: string };

export type FittedAttachments = {
  /** The attachments that fit, in their original order; render each with `renderAttachment`. */
  kept: FittedAttachment[];
  /** One line per attachment cut or left out, e.g. "report.pdf: cut to 12,000 of 48,210 characters". */
  notes: string[];
  /** Estimated tokens of the kept attachments as rendered; at most the budget. */
  tokens: number;
};

/** Fewest tokens of text worth sending: an attachment given less room is left out rather than cut to a stub. */
const minimumTextTokens = 32;

const count = new Intl.NumberFormat('en-US');

/**
 * The attachments that fit in `budgetTokens` (estimated tokens, as estimateTokens counts them,
 * for all of them rendered together), each cut on a grapheme boundary where needed, and a note
 * for every attachment cut (here or already when its text was extracted), left out, or empty.
 */
export function fitAttachments(parts: readonly AttachmentText[], budgetTokens: number): FittedAttachments {
  const notes = new Map<number, string>();
  const candidates = parts
    .map((part, index) => ({ part, index }))
    .filter(({ part, index }) => {
      if (part.text.length > 0) return true;
      notes.set(index, `${part.name}: no text found${part.kind === 'pdf' ? ' (a scanned PDF has none)' : ''}`);
      return false;
    });
  // A cut attachment's wrapper carries a note, so its cost is reckoned with the longest one it could have.
  const wrapperCost = (part: AttachmentText) => estimateTokens(renderAttachment({ ...part, text: '', note: cutNote(part, part.chars) }));
  const wants = candidates.map(({ part }) => estimateTokens(part.text) + wrapperCost(part));
  const order = candidates.map((_, i) => i).sort((a, b) => wants[a]! - wants[b]!);
  const allowance = new Array<number>(candidates.length).fill(0);
  let remaining = Math.max(0, Math.floor(budgetTokens));
  order.forEach((i, position) => {
    const share = Math.floor(remaining / (order.length - position));
    allowance[i] = Math.min(wants[i]!, share);
    remaining -= allowance[i]!;
  });

  const kept: FittedAttachment[] = [];
  let tokens = 0;
  candidates.forEach(({ part, index }, i) => {
    let fitted: FittedAttachment = part;
    if (allowance[i]! < wants[i]!) {
      const room = allowance[i]! - wrapperCost(part);
      if (room < minimumTextTokens) {
        notes.set(index, `${part.name}: left out (no room in the context budget)`);
        return;
      }
      const text = prefixWithin(part.text, room);
      fitted = { ...part, text, chars: text.length, truncated: true };
    }
    if (fitted.truncated) {
      fitted = { ...fitted, note: cutNote(part, fitted.chars) };
      notes.set(index, `${part.name}: ${fitted.note}`);
    }
    kept.push(fitted);
    tokens += estimateTokens(renderAttachment(fitted));
  });
  return { kept, notes: [...notes.entries()].sort(([a], [b]) => a - b).map(([, note]) => note), tokens };
}

/** "cut to 12,000 of 48,210 characters", or "cut to 12,000 characters; the rest was not read" when the whole length is unknown. */
function cutNote(part: AttachmentText, chars: number): string {
  return part.totalChars === null
    ? `cut to ${count.format(chars)} characters; the rest was not read`
    : `cut to ${count.format(chars)} of ${count.format(part.totalChars)} characters`;
}

/** The longest prefix of `text` ending on a grapheme boundary whose estimated tokens are at most `tokens`. */
function prefixWithin(text: string, tokens: number): string {
  // Binary search on the length: the estimator only has to grow with the text, not be linear.
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (estimateTokens(text.slice(0, middle)) <= tokens) low = middle;
    else high = middle - 1;
  }
  return text.slice(0, graphemeFloor(text, low));
}

/**
 * An attachment as prompt text: its text inside an `<attachment>` element whose attributes give
 * the name, the kind (and language or page count) and the note when it was cut, as Anthropic's
 * guidance for documents in prompts suggests (and any model reads).
 */
export function renderAttachment(part: FittedAttachment): string {
  const attributes: [string, string | number | undefined][] = [
    ['name', part.name],
    ['kind', part.kind],
    ['language', part.language],
    ['pages', part.pages],
    ['note', part.note],
  ];
  const rendered = attributes
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}="${escapeAttribute(String(value))}"`)
    .join('');
  return `<attachment${rendered}>\n${part.text}\n</attachment>`;
}

function escapeAttribute(value: string): string {
  return value.replace(/[&"<>\n]/g, (char) => ({ '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;', '\n': ' ' })[char]!);
}
