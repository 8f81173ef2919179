import { type SessionSyncClient, SessionSyncError } from '@session-sync/client';
import { byId, describeError } from './dom.js';

/** What a connection is doing, in the indicator's words. */
export type Connection = 'connecting' | 'live' | 'reconnecting' | 'closed';

const RANK: Record<Connection, number> = { live: 0, connecting: 1, reconnecting: 2, closed: 3 };

/** Shared by the list and the session view: the client, the connection indicator, and errors in words. */
export class Context {
  private readonly connections = new Map<string, Connection>();
  private readonly reasons = new Map<string, string>();
  private readonly errors = new Map<string, string>();

  constructor(
    readonly client: SessionSyncClient,
    /** A 401 anywhere: the token is missing, expired or refused. */
    private readonly onUnauthorized: (error: SessionSyncError) => void,
  ) {}

  /** One stream's status (the changes feed, a session's stream, its state mirror). */
  connection(name: string, status: Connection | 'open' | 'loading', reason?: string): void {
    const normal: Connection = status === 'open' ? 'live' : status === 'loading' ? 'connecting' : status;
    this.connections.set(name, normal);
    if (reason) this.reasons.set(name, reason);
    else if (normal !== 'closed') this.reasons.delete(name);
    this.showConnection();
  }

  forget(name: string): void {
    this.connections.delete(name);
    this.reasons.delete(name);
    this.errors.delete(name);
    this.showConnection();
    this.showErrors();
  }

  /** An error in words in the banner, under the part of the page it came from (cleared with `ok`). */
  error(where: string, error: unknown): void {
    if (error instanceof SessionSyncError && error.status === 401) this.onUnauthorized(error);
    this.errors.set(where, `${where}: ${describeError(error)}`);
    this.showErrors();
  }

  ok(where: string): void {
    if (this.errors.delete(where)) this.showErrors();
  }

  private showConnection(): void {
    let worst: Connection = 'live';
    for (const status of this.connections.values()) if (RANK[status] > RANK[worst]) worst = status;
    if (this.connections.size === 0) worst = 'connecting';
    const element = byId('connection');
    element.dataset.status = worst;
    const reason = worst === 'closed' ? [...this.reasons.values()][0] : undefined;
    element.textContent = reason ? `closed: ${reason}` : worst;
  }

  private showErrors(): void {
    const banner = byId('banner');
    banner.textContent = [...this.errors.values()].join('\n');
    banner.hidden = this.errors.size === 0;
  }
}
