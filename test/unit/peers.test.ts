import { describe, expect, it } from 'vitest';
import { PeerWatch } from '../../src/stream/peers.js';

// Which instances listen, as the changes feeds need it: a feed sweeps when an instance it may have missed hints from is gone.
function watch(lists: (string[] | null)[], watching = () => true) {
  let vanished = 0;
  let asked = 0;
  const warnings: unknown[] = [];
  const peers = new PeerWatch({
    listInstances: async () => {
      const list = lists[asked++];
      if (!list) throw new Error('database gone');
      return list;
    },
    onVanished: () => void (vanished += 1),
    watching,
    intervalMs: 1000,
    log: { warn: (...args: unknown[]) => void warnings.push(args) },
  });
  return { peers, vanished: () => vanished, asked: () => asked, warnings };
}

describe('PeerWatch', () => {
  it('reports an instance that was listening and no longer is, once; a new one is no news', async () => {
    const w = watch([['a', 'b'], ['a', 'b', 'c'], ['a', 'c'], ['a', 'c']]);
    await w.peers.poll();
    await w.peers.poll();
    expect(w.vanished()).toBe(0);
    await w.peers.poll();
    expect(w.vanished()).toBe(1);
    await w.peers.poll();
    expect(w.vanished()).toBe(1);
  });

  it('asks nothing while no feed is open, and forgets what it saw: a feed opened later starts with a sweep of its own', async () => {
    let open = true;
    const w = watch([['a', 'b'], ['a']], () => open);
    await w.peers.poll();
    open = false;
    await w.peers.poll();
    expect(w.asked()).toBe(1);
    open = true;
    await w.peers.poll();
    expect(w.vanished()).toBe(0);
  });

  it('warns when the list cannot be read, and compares the next one with the last it read', async () => {
    const w = watch([['a', 'b'], null, ['a']]);
    await w.peers.poll();
    await w.peers.poll();
    expect(w.warnings).toEqual([[{ err: new Error('database gone') }, 'listing the instances failed']]);
    expect(w.vanished()).toBe(0);
    await w.peers.poll();
    expect(w.vanished()).toBe(1);
  });

  it('runs one poll at a time', async () => {
    let release!: (list: string[]) => void;
    let asked = 0;
    const peers = new PeerWatch({
      listInstances: () => {
        asked += 1;
        return new Promise<string[]>((resolve) => (release = resolve));
      },
      onVanished: () => {},
      watching: () => true,
      intervalMs: 1000,
      log: { warn: () => {} },
    });
    const first = peers.poll();
    await peers.poll();
    expect(asked).toBe(1);
    release(['a']);
    await first;
  });
});
