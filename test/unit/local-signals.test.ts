import { describe, expect, it } from 'vitest';
import { LocalSignals } from '../../src/stream/local-signals.js';
import type { SessionNotification } from '../../src/wakeups/wakeups.js';

const live = (type: string): SessionNotification => ({ kind: 'live', session_id: 's', sid: 1, head: 0, type, data: null });

/** Barriers the test answers one at a time, each recording what had been routed when it started. */
function harness(log = { warn: (..._args: unknown[]) => {} }) {
  const routed: string[] = [];
  const barriers: { routedBefore: string[]; answer: (error?: Error) => void }[] = [];
  const signals = new LocalSignals({
    barrier: () =>
      new Promise<void>((resolve, reject) => {
        barriers.push({ routedBefore: [...routed], answer: (error) => (error ? reject(error) : resolve()) });
      }),
    route: (n) => routed.push(n.kind === 'live' ? n.type : n.kind),
    log,
  });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { signals, routed, barriers, settle };
}

describe('local signals', () => {
  it('are routed only after a barrier that started once they were queued; those queued meanwhile wait for the next', async () => {
    const { signals, routed, barriers, settle } = harness();
    signals.deliver(live('a'));
    signals.deliver(live('b'));
    await settle();
    expect(barriers).toHaveLength(1);
    expect(routed).toEqual([]);
    signals.deliver(live('c'));
    await settle();
    // One barrier at a time: `c` waits for the first to answer before its own starts.
    expect(barriers).toHaveLength(1);
    barriers[0]!.answer();
    await settle();
    expect(routed).toEqual(['a', 'b']);
    // `c` came while the first barrier was in flight: a barrier of its own, started after it.
    expect(barriers).toHaveLength(2);
    barriers[1]!.answer();
    await settle();
    expect(routed).toEqual(['a', 'b', 'c']);
    // Idle again: the next signal starts a barrier at once.
    signals.deliver(live('d'));
    await settle();
    expect(barriers).toHaveLength(3);
    barriers[2]!.answer();
    await settle();
    expect(routed).toEqual(['a', 'b', 'c', 'd']);
  });

  it('are routed anyway, with a warning, when the barrier fails (the LISTEN connection is down)', async () => {
    const warnings: unknown[][] = [];
    const { signals, routed, barriers, settle } = harness({ warn: (...args) => warnings.push(args) });
    signals.deliver(live('a'));
    await settle();
    barriers[0]!.answer(new Error('connection ended'));
    await settle();
    expect(routed).toEqual(['a']);
    expect(warnings).toEqual([[{ err: new Error('connection ended') }, 'LISTEN barrier failed; live signals go to local streams without it']]);
    signals.deliver(live('b'));
    await settle();
    barriers[1]!.answer();
    await settle();
    expect(routed).toEqual(['a', 'b']);
  });
});
