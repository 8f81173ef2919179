import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { EventRowPage } from './events/read.js';
import type { TransferSlots } from './http/transfers.js';
import type { Metrics } from './metrics/metrics.js';
import type { StateContext } from './state/store.js';
import type { StreamAdmission } from './stream/admission.js';
import type { ChangesFeed } from './stream/changes-feed.js';
import type { ListenConnection } from './stream/listen-connection.js';
import type { SessionTails } from './stream/session-tails.js';
import type { WakeupPublisher } from './wakeups/publisher.js';
import type { SessionQueue } from './writes/session-queue.js';
import type { WriteGroups } from './writes/write-groups.js';

/** What route plugins need, built once per app in `buildApp` and passed down explicitly. */
export interface Services {
  config: Config;
  /** The pool: statements run on it, transactions begin on it. */
  db: Db;
  metrics: Metrics;
  stateContext: StateContext;
  /** The process's one LISTEN connection; /readyz reports whether it is up. */
  listenConnection: ListenConnection;
  /** Per-session shared tails that streams join once caught up. */
  sessionTails: SessionTails;
  /** The open changes feeds (`GET /v1/changes`). */
  changesFeed: ChangesFeed;
  /** Stream slots, the row budget every page held for a client reserves from, the output ledger, heartbeats. */
  streamAdmission: StreamAdmission;
  /** This process's queue of writers per session (`writeSession`). */
  sessionQueue: SessionQueue;
  /** This process's group commit: session writes that wait at the same moment share a transaction (`writes/write-groups.ts`). */
  writeGroups: WriteGroups;
  /** Publishes wakeups after their commits, and live events (`wakeups/publisher.ts`). */
  wakeups: WakeupPublisher;
  /** Uploads, imports and exports in progress: each holds a pool connection while it talks to its client. */
  transfers: TransferSlots;
  /** Durable events after a seq, for streams (shared by replay and the tails). */
  readEventRows: (sid: number, after: number, limit: number) => Promise<EventRowPage>;
}
