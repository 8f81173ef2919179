/**
 * One view's connection and problems (the list's, the open session's), shown
 * inside that view: a session that cannot be opened says so where it would
 * have been, and leaves the list's status alone. The words are status.ts's;
 * this draws them and asks /healthz while the view reconnects.
 */
import type { Context } from './context.js';
import { h } from './dom.js';
import { type Connection, ConnectionStatus } from './status.js';

/** How often a view that is reconnecting asks whether the server answers at all. */
const PROBE_MS = 2000;

export class ViewStatus {
  /** `live`, `reconnecting: …`: the view's connection in words (role=status, announced politely). */
  readonly line: HTMLElement;
  /** What failed, one line each, in plain words (role=alert). */
  readonly problems: HTMLElement;
  private readonly status: ConnectionStatus;
  private probe: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    context: Context,
    id: string,
    /** What the view follows, for the status line ("Sessions", "This session"). */
    subject: string,
    /** The session a problem is about, named in its words. */
    session?: string,
  ) {
    this.status = new ConnectionStatus(subject, session, (error) => context.failed(error));
    this.line = h('p', { class: 'view-status', attrs: { id: `${id}-connection`, role: 'status', 'aria-live': 'polite', 'data-status': 'connecting' } });
    this.problems = h('ul', { class: 'problems', attrs: { id: `${id}-problems`, role: 'alert' } });
    this.problems.hidden = true;
    this.render();
  }

  /** See ConnectionStatus.stream. */
  stream(name: string, status: Connection | 'open' | 'loading', why?: unknown): void {
    this.status.stream(name, status, why);
    this.render();
  }

  /** A failed read of part of the view: shown until that part reads again (`ok`). */
  problem(where: string, error: unknown): void {
    this.status.problem(where, error);
    this.renderProblems();
  }

  ok(where: string): void {
    if (this.status.ok(where)) this.renderProblems();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.probe);
  }

  private render(): void {
    const worst = this.status.worst();
    if (worst === 'reconnecting') this.startProbe();
    else {
      clearTimeout(this.probe);
      this.probe = undefined;
    }
    this.line.dataset.status = worst;
    this.line.textContent = this.status.line();
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
      if (this.status.serverDown(down)) this.render();
      this.probe = setTimeout(() => void ask(), PROBE_MS);
    };
    this.probe = setTimeout(() => void ask(), 0);
  }

  private renderProblems(): void {
    const problems = this.status.problems();
    this.problems.replaceChildren(...problems.map((text) => h('li', null, text)));
    this.problems.hidden = problems.length === 0;
  }
}
