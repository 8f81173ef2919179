/**
 * A view's connection and problems in words (the list's, the open session's):
 * which of its streams is worst off, what its status line says, and each
 * failure said so a person reads it without the API's contract at hand.
 * No DOM: status-view.ts shows it.
 *
 * The client's names come from its source modules (the ones
 * `@session-sync/client` re-exports, and the bundle's alias resolves to), so
 * Node tests read them without a build of the client.
 */
import { SessionSyncError } from '../../client/src/errors.js';
import { CLIENT_ERROR, PROBLEM } from '../../client/src/protocol.js';

/** What a view's streams are doing, in the status line's words. */
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** Best to worst. */
const ORDER: readonly Connection[] = ['live', 'connecting', 'reconnecting', 'closed'];

/** An error in words, as a person reads it. */
export function describeError(error: unknown): string {
  if (error instanceof SessionSyncError) {
    if (error.status === 0 && error.code === CLIENT_ERROR.networkError) return `cannot reach the server (${error.detail})`;
    return `${error.status ? `${error.status} ` : ''}${error.code}: ${error.detail}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * What went wrong, in words a person reads without the API's contract at
 * hand, then the server's own code in brackets for whoever reports it.
 */
export function plainWords(error: unknown, session?: string): string {
  if (!(error instanceof SessionSyncError)) return describeError(error);
  const code = error.status ? `${error.status} ${error.code}` : error.code;
  const named = session === undefined ? 'this session' : `session "${session}"`;
  let words: string;
  if (error.status === 0 && error.code === CLIENT_ERROR.networkError) words = 'The server cannot be reached: it may be down or restarting.';
  else if (error.code === CLIENT_ERROR.sessionDeleted) words = `${named[0]!.toUpperCase()}${named.slice(1)} was deleted.`;
  else if (error.code === PROBLEM.sessionNotFound) words = `There is no ${named} on this server: it was never created, or it was deleted.`;
  else if (error.status === 401) words = 'The server refused the token: it is missing, has expired, or was not made for this server.';
  else if (error.status === 403) words = `The token does not allow reading ${named}.`;
  else if (error.code === PROBLEM.databaseUnavailable) words = 'The server cannot reach its database right now.';
  else if (error.status >= 500) words = `The server failed to answer: ${error.detail}`;
  else words = error.detail;
  return `${words} (${code})`;
}

/**
 * The streams of one view and what failed in it. `failed` hears every error
 * first (a refused token is the page's problem, not one view's).
 */
export class ConnectionStatus {
  private readonly streams = new Map<string, Connection>();
  private readonly reasons = new Map<string, string>();
  private readonly failures = new Map<string, string>();
  /** Why streams are reconnecting, once /healthz told: the server is down, or only the connection dropped. */
  private down: boolean | undefined;

  constructor(
    /** What the view follows, for the status line ("Sessions", "This session"). */
    private readonly subject: string,
    /** The session a problem is about, named in its words. */
    private readonly session: string | undefined,
    private readonly failed: (error: unknown) => void = () => {},
  ) {}

  /**
   * One stream's status (`open`/`loading` are the client's names for
   * live/connecting); `why` says why a closed one ended: the error it ended
   * with, or words of the view's own.
   */
  stream(name: string, status: Connection | 'open' | 'loading', why?: unknown): void {
    const normal: Connection = status === 'open' ? 'live' : status === 'loading' ? 'connecting' : status;
    this.streams.set(name, normal);
    if (normal !== 'closed') this.reasons.delete(name);
    else if (typeof why === 'string') this.reasons.set(name, why);
    else if (why !== undefined) {
      this.failed(why);
      this.reasons.set(name, plainWords(why, this.session));
    }
    // What /healthz said is about this stretch of reconnecting only.
    if (this.worst() !== 'reconnecting') this.down = undefined;
  }

  /** What /healthz answered while reconnecting; true when that changes the line. */
  serverDown(down: boolean): boolean {
    if (down === this.down || this.worst() !== 'reconnecting') return false;
    this.down = down;
    return true;
  }

  /** A failed read of part of the view: shown until that part reads again (`ok`). */
  problem(where: string, error: unknown): void {
    this.failed(error);
    this.failures.set(where, `${where}: ${plainWords(error, this.session)}`);
  }

  /** That part read again; true when it had a problem to take back. */
  ok(where: string): boolean {
    return this.failures.delete(where);
  }

  problems(): string[] {
    return [...this.failures.values()];
  }

  /** The worst of the view's streams (connecting until one reports). */
  worst(): Connection {
    if (this.streams.size === 0) return 'connecting';
    return ORDER[Math.max(...[...this.streams.values()].map((status) => ORDER.indexOf(status)))]!;
  }

  /** The status line: `Sessions: live`, `This session: reconnecting: …`, `…: stopped: why`. */
  line(): string {
    const worst = this.worst();
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
    return `${this.subject}: ${words}`;
  }
}
