// Eden treaty over Parley's exported types: paths, bodies and answers are checked by TypeScript.
import { treaty } from '@elysiajs/eden';
import type { App } from 'parley/client';

/** A reply's SSE events as Eden yields them: `{ id, event, data }`, `data` parsed from JSON. */
type ReplyEvent =
  | { id: string; event: 'start'; data: { messageId: string; streamId: string } }
  | { id: string; event: 'delta' | 'reasoning'; data: { text: string } }
  | { id: string; event: 'done'; data: { messageId: string; finishReason: string } }
  | { id: string; event: 'error'; data: { code: string; message: string } };
const replyEvents = (data: unknown) => data as AsyncIterable<ReplyEvent>;

export async function edenExample(baseUrl: string) {
  const guest = await treaty<App>(baseUrl).api.v1.auth.guest.post();
  if (guest.error) throw new Error(`guest: ${guest.status}`);
  const api = treaty<App>(baseUrl, { headers: { authorization: `Bearer ${guest.data.accessToken}` } });

  const chat = await api.api.v1.chats.post({ title: 'Typed', provider: 'echo' });
  if (chat.error) throw new Error(`create chat: ${chat.status}`);
  const chatId: string = chat.data.id;

  // Stream a reply, then lose the connection after the first words.
  const connection = new AbortController();
  const sent = await api.api.v1
    .chats({ id: chatId })
    .messages.post({ content: 'one two three four five six seven eight' }, { fetch: { signal: connection.signal } });
  let streamId = '';
  let lastEventId = '';
  let text = '';
  try {
    for await (const event of replyEvents(sent.data)) {
      lastEventId = event.id;
      if (event.event === 'start') streamId = event.data.streamId;
      if (event.event === 'delta') text += event.data.text;
      if (text !== '') connection.abort(); // the connection drops here
    }
  } catch {
    // the aborted read; the reply goes on being generated and stored
  }

  // Resume: the same stream from any instance, exactly after the last event seen.
  const rest = await api.api.v1.streams({ id: streamId }).get({ headers: { 'last-event-id': lastEventId } });
  let finishReason = '';
  for await (const event of replyEvents(rest.data)) {
    if (event.event === 'delta') text += event.data.text;
    if (event.event === 'done') finishReason = event.data.finishReason;
  }
  return { chatId, text, finishReason };
}
