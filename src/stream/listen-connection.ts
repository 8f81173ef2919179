import type { BaseLogger } from 'pino';
import postgres from 'postgres';
import { reconnectBackoff } from '../db/client.js';
import { listen, ping } from '../db/statements.js';
import { type Notification, WAKEUP_CHANNEL, decodeNotifications } from '../wakeups/wakeups.js';

/** What every instance's LISTEN connection is named, before the instance's id: peers list each other by it (`stream/peers.ts`). */
export const LISTEN_APPLICATION_PREFIX = 'session-sync-listen:';

export interface ListenConnectionOptions {
  url: string;
  /** This instance's id, in the connection's application name. */
  instanceId?: string;
  log: Pick<BaseLogger, 'info' | 'warn'>;
  /** Each well-formed notification on the wakeup channel, in the order they arrive. */
  onNotification: (notification: Notification) => void;
  /** The connection is back after an outage: notifications may have been missed meanwhile. */
  onReconnect: () => void;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
const PING_MS = 5000;

/**
 * The process's one LISTEN connection. It is supervised: when it drops, it is
 * re-established with backoff, and `onReconnect` then says that anything sent
 * while it was down must be re-read, so a commit made meanwhile is still
 * delivered.
 */
export class ListenConnection {
  private readonly listenSql: postgres.Sql;
  private listening = false;
  private stopped = false;
  private connectedOnce = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: ListenConnectionOptions) {
    this.listenSql = postgres(options.url, {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      backoff: reconnectBackoff,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: options.instanceId ? `${LISTEN_APPLICATION_PREFIX}${options.instanceId}` : 'session-sync-listen' },
      onnotify: (channel: string, payload: string) => {
        if (channel === WAKEUP_CHANNEL) this.dispatch(payload);
      },
      onclose: () => this.lost(),
    } as postgres.Options<Record<string, postgres.PostgresType>>);
  }

  /** Up when the LISTEN is in place; /readyz reports it. */
  get ready(): boolean {
    return this.listening;
  }

  /**
   * Resolves once every notification committed before this call has been
   * handed to `onNotification`: Postgres sends a listener the notifications
   * pending when it reads a query before answering it, on this one
   * connection, in order. At once while not listening (nothing arrives then).
   */
  async barrier(): Promise<void> {
    if (!this.listening) return;
    await ping(this.listenSql);
  }

  async start(): Promise<void> {
    await this.connect();
    this.pingTimer = setInterval(() => this.probe(), PING_MS).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.reconnectTimer);
    this.listening = false;
    await this.listenSql.end({ timeout: 2 });
  }

  private async connect(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: defensive; start() runs once, and the reconnect timer is armed only by a close or a failed attempt, which settle the attempt in flight long before it fires
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      try {
        await listen(this.listenSql, WAKEUP_CHANNEL);
        this.listening = true;
        this.reconnectDelay = RECONNECT_MIN_MS;
        if (this.connectedOnce) this.options.onReconnect();
        this.connectedOnce = true;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private lost(): void {
    // Stryker disable next-line ConditionalExpression: scheduleReconnect() checks `stopped` too, and stop() clears `listening` first, so nothing is warned either
    if (this.stopped) return;
    if (this.listening) this.options.log.warn('LISTEN connection lost; reconnecting');
    this.listening = false;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().then(
        () => this.options.log.info('LISTEN connection re-established; streams re-read from their cursors'),
        () => {
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
    // Stryker disable next-line CallExpression: stop() clears the timer; while it waits the server is up and serving anyway
    this.reconnectTimer.unref();
  }

  /** A half-open connection only shows itself when used. */
  private probe(): void {
    if (!this.listening) return;
    // Stryker disable next-line ArrowFunction: a ping fails only when its connection closes, whose onclose calls lost() already
    ping(this.listenSql).catch(() => this.lost());
  }

  private dispatch(payload: string): void {
    const notifications = decodeNotifications(payload);
    if (!notifications) {
      this.options.log.warn({ payloadBytes: Buffer.byteLength(payload) }, 'ignored a malformed notification');
      return;
    }
    for (const notification of notifications) this.options.onNotification(notification);
  }
}
