import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { EventRowPage } from './events/read.js';
import type { TransferSlots } from './http/transfers.js';
import type { Metrics } from './metrics/metrics.js';
import type { StateContext } from './state/store.js';
import type { ListenerHub } from './stream/hub.js';
import type { SessionQueue } from './writes/session-queue.js';

/** What route plugins need, built once per app in `buildApp` and passed down explicitly. */
export interface Services {
  config: Config;
  /** The pool: statements run on it, transactions begin on it. */
  db: Db;
  metrics: Metrics;
  stateContext: StateContext;
  hub: ListenerHub;
  /** This process's queue of writers per session (`writeSession`). */
  sessionQueue: SessionQueue;
  /** Uploads, imports and exports in progress: each holds a pool connection while it talks to its client. */
  transfers: TransferSlots;
  /** Durable events after a seq, for streams (shared by replay and the tails). */
  readEventRows: (sid: number, after: number, limit: number) => Promise<EventRowPage>;
}
