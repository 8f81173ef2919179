import { describe, expect, it } from 'vitest';
import { SessionTails } from '../../src/stream/session-tails.js';
import type { TailWatcher } from '../../src/stream/tail.js';

// Readers that read on their own (the Durable Streams face's long-polls and SSE reads) wait on the session's tail.
function tails(heads: Record<string, number> = {}) {
  return new SessionTails({
    pageSize: 10,
    readRows: async () => ({ rows: [], cut: false }),
    readActivity: async () => undefined,
    readHeads: async (ids) => ids.map((id) => ({ session_id: id, last_seq: heads[id] ?? 0 })),
    headPollMs: 1000,
    log: { warn: () => {} },
  });
}

function watcher(seenSeq = 0) {
  const seen = { wakes: 0, ends: 0 };
  const w: TailWatcher & { seen: typeof seen } = { seenSeq, wake: () => seen.wakes++, end: () => seen.ends++, seen };
  return w;
}

describe('SessionTails.watch', () => {
  it('an append wakes the watchers of its session only; a live frame or an activity does not', () => {
    const all = tails();
    const a = watcher();
    const b = watcher();
    all.watch('a', 1, a);
    all.watch('b', 2, b);
    all.route({ kind: 'append', session_id: 'a', seq: 3 });
    expect([a.seen.wakes, b.seen.wakes]).toEqual([1, 0]);
    all.route({ kind: 'live', session_id: 'a', sid: 1, head: 3, type: 'x', data: {} });
    all.route({ kind: 'activity', session_id: 'a', sid: 1, head: 3, activity: {} as never });
    expect(a.seen.wakes).toBe(1);
  });

  it('the head poll wakes a watcher behind the head, not one at it; a reconnect wakes every one', async () => {
    const all = tails({ behind: 5, current: 5 });
    const behind = watcher(4);
    const current = watcher(5);
    all.watch('behind', 1, behind);
    all.watch('current', 2, current);
    await all.pollHeads();
    expect([behind.seen.wakes, current.seen.wakes]).toEqual([1, 0]);
    all.rereadAll();
    expect([behind.seen.wakes, current.seen.wakes]).toEqual([2, 1]);
  });

  it('a deletion ends the watchers; unwatching the last reader drops the tail', () => {
    const all = tails();
    const w = watcher();
    const unwatch = all.watch('s', 1, w);
    const other = all.watch('s', 1, watcher());
    all.route({ kind: 'deleted', session_id: 's', sid: 1 });
    expect(w.seen.ends).toBe(1);
    unwatch();
    expect(all.size).toBe(1);
    other();
    expect(all.size).toBe(0);
  });
});
