// The history a chat sends upstream once it holds tool rounds (src/modules/chats/history.ts): an
// assistant's calls go with the results that answer them or not at all, and trimming to the
// budget never splits them or leaves the conversation opening with anything but the user.
import { describe, expect, test } from 'bun:test';
import { buildHistory } from '../../src/modules/chats/history.ts';
import type { MessageRow } from '../../src/modules/chats/repository.ts';

let next = 0;
const row = (fields: Partial<MessageRow> & Pick<MessageRow, 'role'>): MessageRow =>
  ({
    id: `m${++next}`,
    chatId: 'c',
    parentId: null,
    selected: true,
    active: true,
    sortKey: '',
    content: '',
    status: 'complete',
    provider: null,
    model: null,
    finishReason: null,
    reasoning: null,
    inputTokens: null,
    outputTokens: null,
    attachments: [],
    toolCalls: null,
    toolResults: null,
    createdAt: new Date(),
    updatedAt: new Date(),
    ...fields,
  }) as MessageRow;

const call = { id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' };

describe('buildHistory with tool rounds', () => {
  test('happy: the calls and their results go in order, one tool turn per result; a reply to them ends on the results', () => {
    const question = row({ role: 'user', content: 'weather?' });
    const caller = row({ role: 'assistant', parentId: question.id, toolCalls: [call, { ...call, id: 'call_2' }] });
    const results = row({
      role: 'tool',
      parentId: caller.id,
      content: 'snow\n\nrain',
      toolResults: [
        { toolCallId: 'call_1', content: 'snow' },
        { toolCallId: 'call_2', content: 'rain' },
      ],
    });
    expect(buildHistory([question, caller, results], 10_000)).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: '', toolCalls: [call, { ...call, id: 'call_2' }] },
      { role: 'tool', toolCallId: 'call_1', content: 'snow' },
      { role: 'tool', toolCallId: 'call_2', content: 'rain' },
    ]);
  });

  test('happy: calls nobody answered are left out (a text-less reply with them), kept as text when it had some', () => {
    const question = row({ role: 'user', content: 'weather?' });
    const silent = row({ role: 'assistant', parentId: question.id, toolCalls: [call] });
    const next = row({ role: 'user', content: 'never mind', parentId: question.id });
    const talking = row({ role: 'assistant', content: 'Let me look', parentId: next.id, toolCalls: [call] });
    const last = row({ role: 'user', content: 'stop', parentId: next.id });
    expect(buildHistory([question, silent, next, talking, last], 10_000)).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'user', content: 'never mind' },
      { role: 'assistant', content: 'Let me look' },
      { role: 'user', content: 'stop' },
    ]);
  });

  test('error: over the budget, the current turn (question, calls, results) goes whole and older turns are dropped, never half a round', () => {
    const old = row({ role: 'user', content: 'x '.repeat(4_000) });
    const oldReply = row({ role: 'assistant', content: 'y '.repeat(4_000), parentId: old.id });
    const question = row({ role: 'user', content: 'weather?', parentId: old.id });
    const caller = row({ role: 'assistant', parentId: question.id, toolCalls: [call] });
    const results = row({
      role: 'tool',
      parentId: caller.id,
      content: 'z '.repeat(4_000),
      toolResults: [{ toolCallId: 'call_1', content: 'z '.repeat(4_000) }],
    });
    const history = buildHistory([old, oldReply, question, caller, results], 100);
    expect(history.map((turn) => turn.role)).toEqual(['user', 'assistant', 'tool']);
    expect(history[0]).toEqual({ role: 'user', content: 'weather?' });
  });
});
