import { vi } from 'vitest';

/**
 * Polls `done` until it holds. Fails naming `what` after `timeoutMs`, which is
 * below vitest's 30 s test timeout, so a failure says what never happened
 * rather than only that the test ran out of time. Needs real timers.
 */
export async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * `promise`, or a failure naming `what` once it has not settled in
 * `timeoutMs`: for a wait a bug would make endless, so the test says what got
 * stuck instead of running out its 30 s. Needs real timers.
 */
export function unlessStuck<T>(promise: Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} is stuck`)), timeoutMs)));
  return Promise.race([promise, stuck]).finally(() => clearTimeout(timer));
}

/** With the clock faked: lets I/O and promises run (no timer fires) until `done()` holds or nothing more is going to happen. */
export async function settleIo(done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** A handler's error is reported as uncaught from a timer of its own; with the clock faked, this runs such timers and says what they threw. */
export function uncaughtTimerErrors(): unknown {
  try {
    vi.advanceTimersByTime(0);
    return undefined;
  } catch (error) {
    return error;
  }
}
