/**
 * @session-sync/client: the client half of the sync protocol, for browsers and
 * Node 22+ (global fetch, AbortSignal, ReadableStream; no Node built-ins).
 * The contract is docs/client.md.
 */
import { claimLease, type ClaimLeaseOptions, type Lease } from './lease.js';
import { Requests } from './requests.js';
import { subscribe, type SubscribeHandlers, type SubscribeOptions, type Subscription } from './subscribe.js';
import { type ChangesFeed, watchChanges, type WatchChangesHandlers } from './changes.js';
import { type ClientOptions, Transport } from './transport.js';
import { type StateStore, watchState } from './watch-state.js';
import { type SessionStore, watchSession, type WatchSessionOptions } from './watch-session.js';
import { type SessionListStore, watchSessions, type WatchSessionsOptions } from './watch-sessions.js';

export class SessionSyncClient extends Requests {
  constructor(options: ClientOptions) {
    super(new Transport(options));
  }

  /** Follows a session: every durable event exactly once, in order, across reconnects; live events and activity. */
  subscribe(id: string, options: SubscribeOptions = {}, handlers: SubscribeHandlers = {}): Subscription {
    return subscribe(this.transport, this.transport.retry, id, options, handlers);
  }

  /** A store equal to the session's state (JSON sessions), for `useSyncExternalStore` and the like. */
  watchState<S = unknown>(id: string, options: { signal?: AbortSignal } = {}): StateStore<S> {
    return watchState<S>(this, (sid, opts, handlers) => this.subscribe(sid, opts, handlers), this.transport.retry, id, options);
  }

  /** One session as a dashboard shows it: its record and lease, newest events, activity and running text, on one stream. */
  watchSession(id: string, options: WatchSessionOptions = {}): SessionStore {
    return watchSession(this, (sid, opts, handlers) => this.subscribe(sid, opts, handlers), this.transport.retry, id, options);
  }

  /** The newest sessions as a live list, kept by the changes feed. */
  watchSessions(options: WatchSessionsOptions = {}): SessionListStore {
    return watchSessions(this, (handlers, opts) => this.watchChanges(handlers, opts), this.transport.retry, options);
  }

  /** Claims the session's lease, renews it, and aborts `lease.signal` when it is lost. */
  claimLease(id: string, options: ClaimLeaseOptions): Promise<Lease> {
    return claimLease(this, id, options);
  }

  /** The changes feed for dashboards that list sessions. */
  watchChanges(handlers: WatchChangesHandlers, options: { signal?: AbortSignal; idleTimeoutMs?: number } = {}): ChangesFeed {
    return watchChanges(this.transport, this.transport.retry, handlers, options);
  }
}

export function createClient(options: ClientOptions): SessionSyncClient {
  return new SessionSyncClient(options);
}

export { SessionSyncError, type Problem } from './errors.js';
export type { RetryOptions } from './backoff.js';
export type { ClientOptions, RequestOptions, TokenSource } from './transport.js';
export type { StreamStatus } from './sse.js';
export type { SubscribeHandlers, SubscribeOptions, Subscription } from './subscribe.js';
export type { StateSnapshot, StateStore, WatchStatus } from './watch-state.js';
export { LIVE_TEXT_ENDS_ON, LIVE_TEXT_MAX_CHARS, type SessionSnapshot, type SessionStore, type WatchSessionOptions } from './watch-session.js';
export type { SessionListSnapshot, SessionListStore, WatchSessionsOptions } from './watch-sessions.js';
export type { ClaimLeaseOptions, Lease, LeasedSession } from './lease.js';
export type { ChangesFeed, SessionChange, WatchChangesHandlers } from './changes.js';
export type * from './types.js';
export * from './protocol.js';
export type { paths, operations, components } from './openapi.js';
