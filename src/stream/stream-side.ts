import type { BaseLogger } from 'pino';
import { StreamAdmission, type StreamAdmissionOptions } from './admission.js';
import { ChangesFeed, type ChangesFeedOptions } from './changes-feed.js';
import { ListenConnection } from './listen-connection.js';
import { LocalSignals } from './local-signals.js';
import { PeerWatch } from './peers.js';
import { SessionTails, type SessionTailsOptions } from './session-tails.js';

export interface StreamSideOptions extends StreamAdmissionOptions, SessionTailsOptions {
  url: string;
  readHeads: ChangesFeedOptions['readHeads'];
  log: Pick<BaseLogger, 'info' | 'warn'>;
  changesFlushMs?: number;
  /** This instance's id: live signals stamped with it were delivered to its streams when published (`WakeupPublisher`'s `local`). */
  instanceId?: string;
  /** The instances listening on the database now, by id (`PeerWatch`). */
  listInstances: () => Promise<string[]>;
}

/** The parts that serve streams on this process, each with one job; services hand them to the routes. */
export interface StreamSide {
  listenConnection: ListenConnection;
  sessionTails: SessionTails;
  /** Live signals this instance published, on their way to its own streams (`WakeupPublisher`'s `local`). */
  localSignals: LocalSignals;
  changesFeed: ChangesFeed;
  admission: StreamAdmission;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wires the stream side together: each notification the LISTEN connection
 * receives goes to the session tails, then to the changes feeds; after a
 * reconnect every tail re-reads from its cursor and every feed is told to
 * sweep.
 */
export function buildStreamSide(options: StreamSideOptions): StreamSide {
  const { log } = options;
  const admission = new StreamAdmission(options);
  const sessionTails = new SessionTails(options);
  const changesFeed = new ChangesFeed({ readHeads: options.readHeads, log, flushMs: options.changesFlushMs });
  const listenConnection = new ListenConnection({
    url: options.url,
    instanceId: options.instanceId,
    log,
    onNotification: (notification) => {
      if (notification.kind === 'missed') return changesFeed.sweepRequired();
      const own = 'from' in notification && notification.from !== undefined && notification.from === options.instanceId;
      if (!own) sessionTails.route(notification);
      changesFeed.route(notification);
    },
    onReconnect: () => {
      sessionTails.rereadAll();
      changesFeed.sweepRequired();
    },
  });
  const peers = new PeerWatch({
    listInstances: options.listInstances,
    onVanished: () => changesFeed.sweepRequired(),
    watching: () => changesFeed.size > 0,
    intervalMs: options.headPollMs,
    log,
  });
  const localSignals = new LocalSignals({ barrier: () => listenConnection.barrier(), route: (n) => sessionTails.route(n), log });
  return {
    listenConnection,
    localSignals,
    sessionTails,
    changesFeed,
    admission,
    async start() {
      await listenConnection.start();
      admission.start();
      changesFeed.start();
      sessionTails.start();
      peers.start();
    },
    async stop() {
      peers.stop();
      sessionTails.stop();
      changesFeed.stop();
      admission.stop();
      await listenConnection.stop();
    },
  };
}
