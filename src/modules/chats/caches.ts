// The chats room's derived reads that repeat, in the two-layer cache (src/infra/cache), and the
// one place that says which write drops which of them. Every instance drops its copy through the
// cache's KV notices, and a write resolves only once that is done: no stale read after one's own
// write, on any instance.
import type { Page } from '../../http/pagination.ts';
import type { Infra } from '../../infra/index.ts';
import type { ChatView, Stats } from './model.ts';

/** The first page of a list, as rows with their cursors; any `limit` up to `firstPageRows` is a slice of it. */
export type CachedRows<Cursor> = { rows: { view: ChatView; cursor: Cursor }[] };

/** Rows kept for a list's first page: pages of up to this many (plus one, to know there is more) come from the cache. */
export const firstPageRows = 50;

export function createChatCaches(infra: Pick<Infra, 'cache'>) {
  const { cache } = infra;
  const categories = cache.namespace<{ data: { category: string; count: number }[] }>('chat-categories', {
    l1TtlMs: 5_000,
    l2TtlMs: 300_000,
  });
  // First pages only (keyed by limit): a cursor is caller input, and deeper pages are rare.
  const featured = cache.namespace<Page<ChatView>>('featured', { l1TtlMs: 5_000, l2TtlMs: 60_000 });
  // The owner's list, unfiltered, by archived or not: `<userId>:0` and `<userId>:1`.
  const list = cache.namespace<CachedRows<unknown>>('chat-list', { l1TtlMs: 5_000, l2TtlMs: 60_000 });
  const stats = cache.namespace<Stats>('chat-stats', { l1TtlMs: 5_000, l2TtlMs: 300_000 });
  // Keys name the ChatView's shape: an instance never reads views cached by one that wrote fewer fields (a rolling deploy).
  const shape = 'tools';
  const listKey = (userId: string, archived: boolean) => `${userId}:${archived ? 1 : 0}:${shape}`;

  return {
    categories,
    /** The featured lists' first pages, by `limit`. */
    featuredPage: (limit: number, load: () => Promise<Page<ChatView>>) => featured.get(`${shape}:${limit}`, load),
    stats,
    /** The first `firstPageRows + 1` rows of the owner's unfiltered list (archived or not), read through the cache. */
    listRows: <Cursor>(userId: string, archived: boolean, load: () => Promise<CachedRows<Cursor>>) =>
      list.get(listKey(userId, archived), load) as Promise<CachedRows<Cursor>>,

    /**
     * After a write to chat rows of `userId` (created, changed, bumped, deleted): their list, and
     * with `counts` their categories and stats (a chat came or went, or its category changed);
     * the featured lists too when a featured chat changed.
     */
    async chatsChanged(userId: string, options: { featured?: boolean; counts?: boolean } = {}): Promise<void> {
      await Promise.all([
        list.invalidate(listKey(userId, false)),
        list.invalidate(listKey(userId, true)),
        options.counts ? categories.invalidate(userId) : undefined,
        options.counts ? stats.invalidate(userId) : undefined,
        options.featured ? featured.invalidatePrefix('') : undefined,
      ]);
    },

    /** After a write to messages of `userId`'s chats that stats count (a message stored, a reply finished, another branch chosen). */
    messagesChanged: (userId: string): Promise<void> => stats.invalidate(userId),
  };
}

export type ChatCaches = ReturnType<typeof createChatCaches>;
