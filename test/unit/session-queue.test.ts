import { describe, expect, it } from 'vitest';
import { SessionQueue } from '../../src/writes/session-queue.js';

// The one place that orders a process's writes per session (writeSession and
// createSession run in it; the state cache relies on it too).
describe('SessionQueue', () => {
  it('runs the writes of one session one at a time, in order; other sessions do not wait', async () => {
    const queue = new SessionQueue();
    const log: string[] = [];
    let releaseFirst!: () => void;
    const first = queue.run('s', async () => {
      log.push('first start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      log.push('first end');
    });
    const second = queue.run('s', async () => {
      log.push('second');
    });
    await queue.run('other', async () => {
      log.push('other');
    });
    expect(log).toEqual(['first start', 'other']);
    expect(queue.size).toBe(1);
    releaseFirst();
    await Promise.all([first, second]);
    expect(log).toEqual(['first start', 'other', 'first end', 'second']);
    expect(queue.size).toBe(0);
  });

  it('a write arriving while the second of a queue runs still waits for it', async () => {
    const queue = new SessionQueue();
    const log: string[] = [];
    const gates: (() => void)[] = [];
    const held = (name: string) => () =>
      new Promise<void>((resolve) => {
        log.push(`${name} start`);
        gates.push(() => {
          log.push(`${name} end`);
          resolve();
        });
      });
    const first = queue.run('s', held('first'));
    const second = queue.run('s', held('second'));
    await Promise.resolve();
    gates.shift()!();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first start', 'first end', 'second start']);
    const third = queue.run('s', async () => {
      log.push('third');
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['first start', 'first end', 'second start']);
    gates.shift()!();
    await Promise.all([second, third]);
    expect(log).toEqual(['first start', 'first end', 'second start', 'second end', 'third']);
  });

  it('a failed write passes its error to its caller and lets the next write run', async () => {
    const queue = new SessionQueue();
    const failed = queue.run('s', async () => {
      throw new Error('commit failed');
    });
    const next = queue.run('s', async () => 'next');
    await expect(failed).rejects.toThrow('commit failed');
    expect(await next).toBe('next');
    expect(queue.size).toBe(0);
  });
});
