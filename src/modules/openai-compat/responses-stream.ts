// A reply as OpenAI's Responses API answers it: one Response object (not streamed, stored, read
// back), or the semantic events of a streamed one (response.created … response.completed), each
// an SSE event with `event:` and a `sequence_number`. Ids derive from the reply's stream id, so a
// replay (Idempotency-Key) says exactly what the first response said, and an output item's id
// names the response that holds it (see responseIdOfItem).
import type { SseItem } from '../../http/sse.ts';
import type { GenerationResult } from '../replies/service.ts';
import type { OutputItem, ResponseBody, ResponseObject } from './responses-model.ts';
import { createdOf } from './stream.ts';

const encoder = new TextEncoder();

/** The 32 hex digits of a stream id (a UUIDv7), which every id of its response carries. */
const hexOf = (streamId: string) => streamId.replaceAll('-', '').toLowerCase();

/** The id of the response a reply's stream carries: `resp_` and the stream id's 32 hex digits. */
export const responseIdOf = (streamId: string) => `resp_${hexOf(streamId)}`;
const messageId = (hex: string, n: number) => (n === 0 ? `msg_${hex}` : `msg_${hex}_${n}`);
const callItemId = (hex: string, index: number) => `fc_${hex}_${index}`;
const reasoningId = (hex: string, n: number) => (n === 0 ? `rs_${hex}` : `rs_${hex}_${n}`);

/** Whether `id` is a response id Parley could have made (checked before any query: the database never sees another). */
export const isResponseId = (id: string) => /^resp_[0-9a-f]{32}$/.test(id);

/** The id of the response an output item (`msg_…`, `fc_…`, `rs_…`) belongs to; undefined for an id Parley never made. */
export function responseIdOfItem(itemId: string): string | undefined {
  const match = /^(?:msg|fc|rs)_([0-9a-f]{32})(?:_\d{1,4})?$/.exec(itemId);
  return match ? `resp_${match[1]}` : undefined;
}

/** The request fields a Response echoes, as OpenAI writes them (defaults filled in). */
export type ResponseEcho = Pick<
  ResponseObject,
  | 'instructions'
  | 'previous_response_id'
  | 'metadata'
  | 'tools'
  | 'tool_choice'
  | 'parallel_tool_calls'
  | 'temperature'
  | 'top_p'
  | 'max_output_tokens'
  | 'text'
  | 'reasoning'
  | 'store'
  | 'truncation'
  | 'user'
>;

/** The fields a Response echoes from its request `body`, OpenAI's defaults where it left them out. */
export function echoOf(body: ResponseBody): ResponseEcho {
  return {
    instructions: body.instructions ?? null,
    previous_response_id: body.previous_response_id ?? null,
    metadata: body.metadata ?? {},
    tools: body.tools ?? [],
    tool_choice: body.tool_choice ?? 'auto',
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    text: { format: body.text?.format ?? { type: 'text' } },
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    store: body.store !== false,
    truncation: body.truncation ?? 'disabled',
    user: body.user ?? null,
  };
}

type Outcome = Pick<ResponseObject, 'status' | 'error' | 'incomplete_details'>;

/**
 * How a reply ended, as a Response says it: failed (with the error in OpenAI's codes), cancelled (the caller left),
 * incomplete (max_output_tokens, content_filter), else completed.
 */
export function outcomeOf(finishReason: string, failure?: { code: string; message: string }): Outcome {
  if (failure) {
    // OpenAI's codes for a response that failed (ResponseError): a spent rate limit, else a server error.
    const code = failure.code === 'rate_limited' ? 'rate_limit_exceeded' : 'server_error';
    return { status: 'failed', error: { code, message: failure.message }, incomplete_details: null };
  }
  if (finishReason === 'cancelled') return { status: 'cancelled', error: null, incomplete_details: null };
  if (finishReason === 'length') return { status: 'incomplete', error: null, incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', error: null, incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', error: null, incomplete_details: null };
}

const usageOf = (usage: { inputTokens: number; outputTokens: number }) => ({
  input_tokens: usage.inputTokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: usage.outputTokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: usage.inputTokens + usage.outputTokens,
});

type Parts = { streamId: string; model: string; output: OutputItem[]; usage: ResponseObject['usage'] | null; echo: ResponseEcho };

/** The Response object; `status` in_progress (no usage yet) while streaming. */
export function responseObject({ streamId, model, output, usage, echo }: Parts, outcome: Outcome | { status: 'in_progress' }) {
  const created = createdOf(streamId);
  const done = outcome.status !== 'in_progress';
  return {
    id: responseIdOf(streamId),
    object: 'response' as const,
    created_at: created,
    // A reply's end is not kept apart from its start: the answer is at least as late as this.
    completed_at: outcome.status === 'completed' ? Math.max(created, Math.floor(Date.now() / 1000)) : null,
    status: outcome.status,
    model,
    output,
    usage,
    error: done ? (outcome as Outcome).error : null,
    incomplete_details: done ? (outcome as Outcome).incomplete_details : null,
    ...echo,
    background: false,
    service_tier: 'default',
  };
}

/** The model's thinking, where the provider streams it, as a reasoning item's summary text (what OpenAI's clients show). */
const reasoningItem = (id: string, text: string): OutputItem => ({ id, type: 'reasoning', summary: [{ type: 'summary_text', text }] });

const messageItem = (id: string, text: string, status: string): OutputItem => ({
  id,
  type: 'message',
  role: 'assistant',
  status,
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});

/**
 * A finished reply's output items: its thinking as a reasoning item (when the provider streamed
 * any), its text as one message (also when it said nothing and called no tool), then each tool
 * call as a function_call item.
 */
export function outputOf(streamId: string, result: Pick<GenerationResult, 'text' | 'reasoning' | 'toolCalls' | 'status'>): OutputItem[] {
  const hex = hexOf(streamId);
  const itemStatus = result.status === 'complete' ? 'completed' : 'incomplete';
  const calls = result.toolCalls.map(
    (call, index): OutputItem => ({
      id: callItemId(hex, index),
      type: 'function_call',
      call_id: call.id,
      name: call.name,
      arguments: call.arguments,
      status: 'completed',
    }),
  );
  const thinking = result.reasoning ? [reasoningItem(reasoningId(hex, 0), result.reasoning)] : [];
  const said = result.text || calls.length === 0 ? [messageItem(messageId(hex, 0), result.text, itemStatus)] : [];
  return [...thinking, ...said, ...calls];
}

/** A finished reply as a Response object (answered when not streamed, and stored). */
export function responseOf(streamId: string, result: GenerationResult, echo: ResponseEcho) {
  return responseObject(
    {
      streamId,
      model: `${result.provider}/${result.model}`,
      output: outputOf(streamId, result),
      usage: usageOf(result.usage),
      echo,
    },
    outcomeOf(result.finishReason, result.status === 'error' || result.status === 'interrupted' ? result.error : undefined),
  );
}

/**
 * A reply's stream as the Responses API's events: response.created and response.in_progress at
 * its start; for the model's thinking, a reasoning item (output_item.added,
 * reasoning_summary_part.added, reasoning_summary_text.delta…, .done, part.done, output_item.done);
 * for text, a message item (output_item.added, content_part.added, output_text.delta…,
 * output_text.done, content_part.done, output_item.done); for each tool call, a function_call
 * item with its arguments in one delta; then response.completed (response.incomplete for a reply
 * cut short, response.failed for one that failed after its first token). Text after a tool call
 * opens a new message item, in the order the model wrote them.
 */
export function responseEvents(streamId: string, requested: { model: string; echo: ResponseEcho }): (item: SseItem) => Uint8Array {
  const hex = hexOf(streamId);
  let sequence = 0;
  let model = requested.model;
  const output: OutputItem[] = [];
  let open: { index: number; id: string; text: string } | undefined;
  let messages = 0;
  let thinking: { index: number; id: string; text: string } | undefined;
  let thoughts = 0;
  const event = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
  const parts = (usage: ResponseObject['usage'] | null): Parts => ({ streamId, model, output, usage, echo: requested.echo });

  const openMessage = () => {
    const id = messageId(hex, messages++);
    open = { index: output.length, id, text: '' };
    output.push({ id, type: 'message', role: 'assistant', status: 'in_progress', content: [] });
    const at = { item_id: id, output_index: open.index };
    return (
      event('response.output_item.added', { output_index: open.index, item: output[open.index] }) +
      event('response.content_part.added', {
        ...at,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
      })
    );
  };
  const closeMessage = (status = 'completed') => {
    if (!open) return '';
    const { index, id, text } = open;
    open = undefined;
    const at = { item_id: id, output_index: index, content_index: 0 };
    output[index] = messageItem(id, text, status);
    return (
      event('response.output_text.done', { ...at, text, logprobs: [] }) +
      event('response.content_part.done', { ...at, part: { type: 'output_text', text, annotations: [], logprobs: [] } }) +
      event('response.output_item.done', { output_index: index, item: output[index] })
    );
  };

  const openReasoning = () => {
    const id = reasoningId(hex, thoughts++);
    thinking = { index: output.length, id, text: '' };
    output.push({ id, type: 'reasoning', summary: [] });
    const at = { item_id: id, output_index: thinking.index, summary_index: 0 };
    return (
      event('response.output_item.added', { output_index: thinking.index, item: output[thinking.index] }) +
      event('response.reasoning_summary_part.added', { ...at, part: { type: 'summary_text', text: '' } })
    );
  };
  const closeReasoning = () => {
    if (!thinking) return '';
    const { index, id, text } = thinking;
    thinking = undefined;
    const at = { item_id: id, output_index: index, summary_index: 0 };
    output[index] = reasoningItem(id, text);
    return (
      event('response.reasoning_summary_text.done', { ...at, text }) +
      event('response.reasoning_summary_part.done', { ...at, part: { type: 'summary_text', text } }) +
      event('response.output_item.done', { output_index: index, item: output[index] })
    );
  };
  /** Ends whichever item is open (the model's thinking or its text): the next one starts. */
  const closeAll = (status?: string) => closeReasoning() + closeMessage(status);

  const write = (item: SseItem): string => {
    if ('ping' in item) return ': ping\n\n';
    const data = JSON.parse(item.data);
    switch (item.event) {
      case 'start': {
        model = `${data.provider}/${data.model}`;
        const snapshot = { response: responseObject(parts(null), { status: 'in_progress' }) };
        return event('response.created', snapshot) + event('response.in_progress', snapshot);
      }
      case 'reasoning': {
        const opened = thinking ? '' : closeMessage() + openReasoning();
        thinking!.text += data.text;
        const at = { item_id: thinking!.id, output_index: thinking!.index, summary_index: 0 };
        return opened + event('response.reasoning_summary_text.delta', { ...at, delta: data.text });
      }
      case 'delta': {
        const opened = open ? '' : closeReasoning() + openMessage();
        open!.text += data.text;
        return (
          opened +
          event('response.output_text.delta', {
            item_id: open!.id,
            output_index: open!.index,
            content_index: 0,
            delta: data.text,
            logprobs: [],
          })
        );
      }
      case 'tool_call': {
        const closed = closeAll();
        const index = output.length;
        const id = callItemId(hex, data.index);
        const call = { id, type: 'function_call' as const, call_id: data.id, name: data.name };
        output.push({ ...call, arguments: data.arguments, status: 'completed' });
        const at = { item_id: id, output_index: index };
        return (
          closed +
          event('response.output_item.added', { output_index: index, item: { ...call, arguments: '', status: 'in_progress' } }) +
          event('response.function_call_arguments.delta', { ...at, delta: data.arguments }) +
          event('response.function_call_arguments.done', { ...at, arguments: data.arguments }) +
          event('response.output_item.done', { output_index: index, item: output[index] })
        );
      }
      case 'error': {
        const closed = closeAll('incomplete');
        const failed = responseObject(parts(null), outcomeOf('error', { code: data.code, message: data.message }));
        return closed + event('response.failed', { response: failed });
      }
      case 'done': {
        const outcome = outcomeOf(data.finishReason);
        let closing = closeAll(outcome.status === 'completed' ? 'completed' : 'incomplete');
        // A reply that said nothing still answers one (empty) message, as when not streamed.
        if (output.every((item) => item.type === 'reasoning')) closing += openMessage() + closeMessage();
        const type = outcome.status === 'completed' ? 'response.completed' : 'response.incomplete';
        return closing + event(type, { response: responseObject(parts(usageOf(data.usage)), outcome) });
      }
      default:
        return ''; // log probabilities have no place in these items
    }
  };
  return (item) => encoder.encode(write(item));
}
