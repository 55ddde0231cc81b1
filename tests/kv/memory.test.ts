import { describe, expect, test } from 'bun:test';
import { createMemoryStore } from '../../src/infra/kv/memory.ts';
import { runKeyValueSuite } from './kv-suite.ts';

runKeyValueSuite('memory', async () => ({ store: createMemoryStore(), cleanup: async () => {} }));

describe('memory store specifics', () => {
  test('happy: kind is memory', async () => {
    const store = createMemoryStore();
    expect(store.kind).toBe('memory');
    await store.close();
  });

  test('happy: close drops keys and subscribers', async () => {
    const store = createMemoryStore();
    const received: string[] = [];
    await store.set('k', 'v');
    await store.subscribe('ch', (m) => received.push(m));
    await store.close();
    expect(await store.get('k')).toBeNull();
    await store.publish('ch', 'after close');
    await Bun.sleep(10);
    expect(received).toEqual([]);
  });
});
