/**
 * The state at any version, for time travel and diffs: exact from what this
 * page recorded since it opened, else rebuilt from the server's time travel
 * (`?at_version=`, docs/API.md, History lifecycle), and each way it can fail
 * said in words. No DOM.
 */
import { SessionSyncError } from '../../client/src/errors.js';
import { applyJsonPatch, applyMergePatch } from '../../client/src/patch.js';
import { PROBLEM } from '../../client/src/protocol.js';
import { plainWords } from './status.js';

/** States this page saw, kept for time travel and diffs (the newest ones). */
export const RECORDED_VERSIONS = 1000;

/** What `?at_version=` answers: a snapshot and the deltas after it, or `new` for no state yet. */
export interface AtVersion {
  mode: string;
  snapshot?: unknown;
  deltas?: unknown[];
}

/** A state at one version, and where it came from, in words. */
export interface VersionedState {
  state: unknown;
  source: string;
  /** Whether it is what this page recorded (else the server's). */
  seen: boolean;
}

/** The state an `?at_version=` answer holds: its snapshot with its deltas applied in order; none for `new`. */
export function stateOf(answer: AtVersion): unknown {
  let state: unknown = answer.snapshot ?? null;
  for (const delta of answer.deltas ?? []) {
    const d = delta as { patch?: unknown[]; merge_patch?: unknown };
    state = d.patch ? applyJsonPatch(state, d.patch) : applyMergePatch(state, d.merge_patch);
  }
  return answer.mode === 'new' ? null : state;
}

/** A version typed into a form: a whole number from 0, or undefined. */
export function versionOf(text: string): number | undefined {
  const version = Number(text);
  return text.trim() !== '' && Number.isInteger(version) && version >= 0 ? version : undefined;
}

export class Versions {
  private readonly states = new Map<number, unknown>();
  /** The oldest version still recorded. */
  private oldest: number | undefined;

  constructor(private readonly limit = RECORDED_VERSIONS) {}

  /** Records the state at `version` (the first one seen stays); true when it was new. Past the limit, the oldest goes. */
  record(version: number, state: unknown): boolean {
    if (this.states.has(version)) return false;
    this.states.set(version, state);
    this.oldest ??= version;
    if (this.states.size > this.limit) {
      this.states.delete(this.states.keys().next().value as number);
      this.oldest = this.states.keys().next().value as number;
    }
    return true;
  }

  /** The oldest version recorded (undefined before the first). */
  get first(): number | undefined {
    return this.oldest;
  }

  /**
   * The state at `version` with `head` the newest there is: recorded, or
   * `read` from the server. Rejects with the reason in words (`cause`: the
   * error read failed with, which `failed` hears first).
   */
  async at(version: number, head: number, read: (version: number) => Promise<AtVersion>, session?: string, failed: (error: unknown) => void = () => {}): Promise<VersionedState> {
    if (version > head) throw new Error(`Version ${version} does not exist yet (the head is ${head}).`);
    if (this.states.has(version)) return { state: this.states.get(version), source: 'as this page saw it', seen: true };
    let answer: AtVersion;
    try {
      answer = await read(version);
    } catch (error) {
      failed(error);
      const since = this.oldest === undefined ? '' : ` This page has every version from ${this.oldest} on (since it opened).`;
      if (error instanceof SessionSyncError && error.code === PROBLEM.versionExpired) {
        throw new Error(`Version ${version} is no longer kept by the server (its history was trimmed).${since}`, { cause: error });
      }
      throw new Error(`Version ${version} could not be read: ${plainWords(error, session)}`, { cause: error });
    }
    return { state: stateOf(answer), source: `from the server, ?at_version=${version}`, seen: false };
  }

  /** Under the state shown at a version: where it came from. */
  note(version: number, found: VersionedState): string {
    return `Version ${version} ${found.source}${found.seen ? ` (it records every version from ${this.oldest} on, since it opened)` : ''}.`;
  }
}
