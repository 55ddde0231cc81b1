// openapi-fetch over types generated from the OpenAPI document:
//   npx openapi-typescript http://localhost:3000/swagger/json -o api.ts
import { EventSourceParserStream } from 'eventsource-parser/stream';
import createClient from 'openapi-fetch';
import type { paths } from './api.ts';

/** The SSE events of a response, one `{ id, event, data }` (data: JSON text) at a time; a reader loop, as Safari cannot `for await` a stream. */
async function* sseEvents(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
}

export async function openapiFetchExample(baseUrl: string) {
  const client = createClient<paths>({ baseUrl });
  const guest = await client.POST('/api/v1/auth/guest');
  if (!guest.data) throw new Error(`guest: ${guest.error?.error.code}`);
  const headers = { authorization: `Bearer ${guest.data.accessToken}` };

  const chat = await client.POST('/api/v1/chats', { headers, body: { title: 'Typed', provider: 'echo' } });
  if (!chat.data) throw new Error(`create chat: ${chat.error?.error.code}`);
  const chatId: string = chat.data.id;

  // Stream a reply (parseAs: 'stream' hands over the body), then lose the connection after the first words.
  const connection = new AbortController();
  const sent = await client.POST('/api/v1/chats/{id}/messages', {
    headers,
    params: { path: { id: chatId } },
    body: { content: 'one two three four five six seven eight' },
    parseAs: 'stream',
    signal: connection.signal,
  });
  let streamId = '';
  let lastEventId = '';
  let text = '';
  try {
    for await (const event of sseEvents(sent.response)) {
      lastEventId = event.id ?? lastEventId;
      const data = JSON.parse(event.data);
      if (event.event === 'start') streamId = data.streamId;
      if (event.event === 'delta') text += data.text;
      if (text !== '') connection.abort(); // the connection drops here
    }
  } catch {
    // the aborted read; the reply goes on being generated and stored
  }

  // Resume: the same stream from any instance, exactly after the last event seen.
  const rest = await client.GET('/api/v1/streams/{id}', {
    headers: { ...headers, 'last-event-id': lastEventId },
    params: { path: { id: streamId } },
    parseAs: 'stream',
  });
  let finishReason = '';
  for await (const event of sseEvents(rest.response)) {
    const data = JSON.parse(event.data);
    if (event.event === 'delta') text += data.text;
    if (event.event === 'done') finishReason = data.finishReason;
  }
  return { chatId, text, finishReason };
}
