import type { RetryOptions } from './backoff.js';
import { SessionSyncError } from './errors.js';
import { runStream, type StreamStatus } from './sse.js';
import type { Transport } from './transport.js';
import { CHANGE_EVENT } from './protocol.js';

/** A hint from the changes feed: `session.changed` `{session_id, last_seq, version}`, or created, deleted, activity. */
export interface SessionChange {
  type: (typeof CHANGE_EVENT)[keyof typeof CHANGE_EVENT] | (string & {});
  session_id: string;
  [field: string]: unknown;
}

export interface WatchChangesHandlers {
  onChange?: (change: SessionChange) => void;
  /** Hints may have been missed (every (re)connect starts with this): re-list what you show. */
  onSweepRequired?: () => void;
  onStatus?: (status: StreamStatus) => void;
  /** The feed ended for good: 400, 401, 403, or 404 (a base URL with no changes feed behind it). */
  onError?: (error: SessionSyncError) => void;
}

export interface ChangesFeed {
  readonly status: StreamStatus;
  close(): void;
  readonly closed: Promise<void>;
}

/** Refusals that no reconnect can change; any other (429, 5xx, a proxy's) is retried after a wait. */
const FATAL = new Set([400, 401, 403, 404]);

/** Follows `GET /v1/changes`, reconnecting like `subscribe`; each connection opens with `sweep_required`. */
export function watchChanges(
  transport: Transport,
  retry: RetryOptions,
  handlers: WatchChangesHandlers,
  options: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
): ChangesFeed {
  const loop = runStream({
    transport,
    retry,
    signal: options.signal,
    idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
    plan: () => ({ path: '/v1/changes', query: {} }),
    onMessage: (message) => {
      const type = message.event ?? 'message';
      if (type === CHANGE_EVENT.sweepRequired) return handlers.onSweepRequired?.();
      // The token that opened the feed expired: reconnect at once with a fresh one (the new connection sweeps again).
      if (type === CHANGE_EVENT.tokenExpired) return 'reconnect';
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(message.data) as Record<string, unknown>;
      } catch {
        return;
      }
      handlers.onChange?.({ ...data, type, session_id: String(data.session_id) });
    },
    onRefused: (error) => {
      if (FATAL.has(error.status)) return 'close';
      // Stryker disable next-line StringLiteral: runStream backs off after any verdict but 'close' and 'retry'
      return 'backoff';
    },
    onStatus: (status) => handlers.onStatus?.(status),
    onError: (error) => handlers.onError?.(error instanceof SessionSyncError ? error : SessionSyncError.network(error)),
  });
  return {
    get status() {
      return loop.status;
    },
    close: () => loop.close(),
    closed: loop.done,
  };
}
