import { afterEach, describe, expect, it, vi } from 'vitest';
import { SweepSupervisor } from '../../src/maintenance/supervisor.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A sweep whose runs each wait until the test ends them. */
function heldSweep(name: string, everyMs: number) {
  const ends: Array<(error?: Error) => void> = [];
  return {
    ends,
    sweep: {
      name,
      everyMs,
      run: () => new Promise<void>((resolve, reject) => ends.push((error) => (error ? reject(error) : resolve()))),
    },
  };
}

function observed() {
  const runs: Array<{ sweep: string; failed?: string }> = [];
  return { runs, observer: { ran: (sweep: string, _seconds: number, error?: unknown) => runs.push({ sweep, ...(error ? { failed: (error as Error).message } : {}) }) } };
}

describe('SweepSupervisor', () => {
  it('runs each sweep on its own interval, and never a second run of one sweep while one is in flight', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const slow = heldSweep('slow', 100);
    const fast = heldSweep('fast', 30);
    const { runs, observer } = observed();
    const supervisor = new SweepSupervisor([slow.sweep, fast.sweep], observer);
    supervisor.start();
    await vi.advanceTimersByTimeAsync(100);
    // fast ticked at 30, 60 and 90 but its first run is still going; slow ticked once.
    expect([slow.ends.length, fast.ends.length]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(250);
    expect([slow.ends.length, fast.ends.length]).toEqual([1, 1]);
    fast.ends[0]!();
    await vi.advanceTimersByTimeAsync(30);
    expect(fast.ends.length).toBe(2);
    expect(runs).toEqual([{ sweep: 'fast' }]);
    slow.ends[0]!();
    fast.ends[1]!();
    await supervisor.stop();
  });

  it('a run that fails is observed with its error, and the sweep runs again at its next tick', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const flaky = heldSweep('flaky', 50);
    const { runs, observer } = observed();
    const supervisor = new SweepSupervisor([flaky.sweep], observer);
    supervisor.start();
    await vi.advanceTimersByTimeAsync(50);
    flaky.ends[0]!(new Error('database unavailable'));
    await vi.advanceTimersByTimeAsync(50);
    expect(flaky.ends.length).toBe(2);
    flaky.ends[1]!();
    await supervisor.stop();
    expect(runs).toEqual([{ sweep: 'flaky', failed: 'database unavailable' }, { sweep: 'flaky' }]);
  });

  it('stop() resolves only once the runs in flight have ended, and starts none after', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const held = heldSweep('held', 20);
    const { runs, observer } = observed();
    const supervisor = new SweepSupervisor([held.sweep], observer);
    supervisor.start();
    await vi.advanceTimersByTimeAsync(20);
    let stopped = false;
    const stopping = supervisor.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(stopped).toBe(false);
    held.ends[0]!();
    await stopping;
    expect(runs).toEqual([{ sweep: 'held' }]);
    await supervisor.tick(held.sweep);
    expect(held.ends.length).toBe(1);
  });
});
