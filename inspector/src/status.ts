/**
 * One view's connection and problems (the list's, the open session's), shown
 * inside that view: a session that cannot be opened says so where it would
 * have been, and leaves the list's status alone.
 */
import type { Context } from './context.js';
import { h, plainWords } from './dom.js';

/** What a view's streams are doing, in the status line's words. */
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'closed';

const RANK: Record<Connection, number> = { live: 0, connecting: 1, reconnecting: 2, closed: 3 };
/** How often a view that is reconnecting asks whether the server answers at all. */
const PROBE_MS = 2000;

export class ViewStatus {
  /** `live`, `reconnecting: …`: the view's connection in words (role=status, announced politely). */
  readonly line: HTMLElement;
  /** What failed, one line each, in plain words (role=alert). */
  readonly problems: HTMLElement;
  private readonly streams = new Map<string, Connection>();
  private readonly reasons = new Map<string, string>();
  private readonly failures = new Map<string, string>();
  /** Why streams are reconnecting, once /healthz told: the server is down, or only the connection dropped. */
  private down: boolean | undefined;
  private probe: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly context: Context,
    id: string,
    /** What the view follows, for the status line ("Sessions", "This session"). */
    private readonly subject: string,
    /** The session a problem is about, named in its words. */
    private readonly session?: string,
  ) {
    this.line = h('p', { class: 'view-status', attrs: { id: `${id}-connection`, role: 'status', 'aria-live': 'polite', 'data-status': 'connecting' } });
    this.problems = h('ul', { class: 'problems', attrs: { id: `${id}-problems`, role: 'alert' } });
    this.problems.hidden = true;
    this.render();
  }

  /**
   * One stream's status (`open`/`loading` are the client's names for
   * live/connecting); `why` says why a closed one ended: the error it ended
   * with, or words of the view's own.
   */
  stream(name: string, status: Connection | 'open' | 'loading', why?: unknown): void {
    const normal: Connection = status === 'open' ? 'live' : status === 'loading' ? 'connecting' : status;
    this.streams.set(name, normal);
    if (normal === 'closed' && typeof why === 'string') this.reasons.set(name, why);
    else if (normal === 'closed' && why !== undefined) {
      this.context.failed(why);
      this.reasons.set(name, plainWords(why, this.session));
    } else if (normal !== 'closed') this.reasons.delete(name);
    this.render();
  }

  /** A failed read of part of the view: shown until that part reads again (`ok`). */
  problem(where: string, error: unknown): void {
    this.context.failed(error);
    this.failures.set(where, `${where}: ${plainWords(error, this.session)}`);
    this.renderProblems();
  }

  ok(where: string): void {
    if (this.failures.delete(where)) this.renderProblems();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.probe);
  }

  private worst(): Connection {
    let worst: Connection = 'connecting';
    if (this.streams.size > 0) worst = 'live';
    for (const status of this.streams.values()) if (RANK[status] > RANK[worst]) worst = status;
    return worst;
  }

  private render(): void {
    const worst = this.worst();
    if (worst === 'reconnecting') this.startProbe();
    else {
      clearTimeout(this.probe);
      this.probe = undefined;
      this.down = undefined;
    }
    this.line.dataset.status = worst;
    let words: string;
    if (worst === 'live') words = 'live';
    else if (worst === 'connecting') words = 'connecting…';
    else if (worst === 'reconnecting') {
      words =
        this.down === true
          ? 'reconnecting: the server cannot be reached (it may be down or restarting); this view follows on by itself once it is back'
          : this.down === false
            ? 'reconnecting: the connection dropped; the server answers, so this view is live again in a moment'
            : 'reconnecting…';
    } else words = `stopped: ${[...this.reasons.values()][0] ?? 'the stream ended'}`;
    this.line.textContent = `${this.subject}: ${words}`;
  }

  /** While reconnecting, asks /healthz (open, no token) whether the server is there, so the line can say which it is. */
  private startProbe(): void {
    if (this.probe !== undefined || this.closed) return;
    const ask = async () => {
      let down: boolean;
      try {
        down = !(await fetch('/healthz', { cache: 'no-store' })).ok;
      } catch {
        down = true;
      }
      if (this.closed || this.probe === undefined) return;
      if (down !== this.down) {
        this.down = down;
        this.render();
      }
      this.probe = setTimeout(() => void ask(), PROBE_MS);
    };
    this.probe = setTimeout(() => void ask(), 0);
  }

  private renderProblems(): void {
    this.problems.replaceChildren(...[...this.failures.values()].map((text) => h('li', null, text)));
    this.problems.hidden = this.failures.size === 0;
  }
}
