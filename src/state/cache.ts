/**
 * Materialised json states, kept so a JSON Patch delta can be validated against
 * the current document without reading and re-parsing the whole state: the cost
 * of a delta stays proportional to the delta.
 *
 * Postgres stays the truth. An entry is used only when its session incarnation
 * (`sid`) and `version` equal the head read under the session's row lock; any
 * failed or uncertain write evicts it. Writes that use an entry run in the
 * process's one queue of writers per session (`writes/session-queue.ts`, through
 * `writeSession`), which evicts the entry of a write that failed, commit
 * included, before the session's next writer starts: no request on this process
 * sees a document that a transaction patched but did not commit.
 */
export interface CachedState {
  /** Session incarnation: a deleted and re-created id starts over at version 0. */
  sid: number;
  version: number;
  document: unknown;
  /** Measured size (`json-value.ts`): the state's size limit, and its cost for the memory budget. */
  bytes: number;
}

export class StateCache {
  private readonly entries = new Map<string, CachedState>();
  private totalBytes = 0;

  constructor(private readonly budgetBytes: number) {}

  /** The entry if it is exactly this incarnation at this version; otherwise drops it. */
  get(sessionId: string, sid: number, version: number): CachedState | undefined {
    const entry = this.entries.get(sessionId);
    if (!entry) return undefined;
    if (entry.sid !== sid || entry.version !== version) {
      this.evict(sessionId);
      return undefined;
    }
    // Re-insert to mark as most recently used.
    this.entries.delete(sessionId);
    this.entries.set(sessionId, entry);
    return entry;
  }

  set(sessionId: string, entry: CachedState): void {
    this.evict(sessionId);
    if (entry.bytes > this.budgetBytes) return;
    this.entries.set(sessionId, entry);
    this.totalBytes += entry.bytes;
    for (const [oldest, old] of this.entries) {
      if (this.totalBytes <= this.budgetBytes) break;
      this.entries.delete(oldest);
      this.totalBytes -= old.bytes;
    }
  }

  evict(sessionId: string): void {
    const entry = this.entries.get(sessionId);
    if (!entry) return;
    this.entries.delete(sessionId);
    this.totalBytes -= entry.bytes;
  }
}
