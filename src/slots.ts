/**
 * A count of things in use against a limit (open streams, transfers), taken
 * synchronously so that concurrent requests cannot all pass a check made
 * before their awaits. `take()` returns the release, or `undefined` when every
 * slot is taken; the release is idempotent, so every exit path (refusal,
 * error, close) may call it.
 */
export class Slots {
  private taken = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.taken;
  }

  take(): (() => void) | undefined {
    if (this.taken >= this.limit) return undefined;
    this.taken++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.taken--;
    };
  }
}
