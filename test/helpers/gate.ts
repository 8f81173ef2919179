/**
 * Holds one step of the server (a hook it awaits) until the test lets it go,
 * so a race happens in the order the test names instead of by luck.
 */
export class Gate<T = void> {
  private holds: { when: (arg: T) => boolean; reached: () => void; released: Promise<void> }[] = [];

  /**
   * Holds the next call whose argument matches `when`. `reached` settles once
   * the server is held there; `release()` lets it go on.
   */
  hold(when: (arg: T) => boolean = () => true): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ when, reached, released });
    return { reached: reachedPromise, release };
  }

  /** The hook the server awaits. */
  readonly pass = async (arg: T): Promise<void> => {
    const index = this.holds.findIndex((h) => h.when(arg));
    if (index < 0) return;
    const [hold] = this.holds.splice(index, 1);
    if (!hold) return;
    hold.reached();
    await hold.released;
  };
}
