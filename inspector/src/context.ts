import { type SessionSyncClient, SessionSyncError } from '@session-sync/client';

/** Shared by the list and the session view: the client, and what a refused token does to the whole page. */
export class Context {
  constructor(
    readonly client: SessionSyncClient,
    /** A 401 anywhere: the token is missing, expired or refused. */
    private readonly onUnauthorized: (error: SessionSyncError) => void,
  ) {}

  /** Every failure a view shows passes here first: a refused token is the page's problem, not one view's. */
  failed(error: unknown): void {
    if (error instanceof SessionSyncError && error.status === 401) this.onUnauthorized(error);
  }
}
