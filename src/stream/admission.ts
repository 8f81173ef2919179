import { Slots } from '../slots.js';
import { ByteBudget } from './budget.js';
import { KEEPALIVE_FRAME, OutputLedger, type SseWriter } from './sse.js';

export interface StreamAdmissionOptions {
  heartbeatMs: number;
  /** Streams (per-session and changes feeds) this process serves at once. */
  maxStreams: number;
  /** Bytes of history pages all replays (and event pages) may hold at once. */
  rowsMemoryBytes: number;
  /** Unsent output of all streams together. */
  totalBufferedBytes: number;
}

/**
 * What this process lets its streams hold: a slot each (`maxStreams`), a
 * share of the row budget while a page waits for its socket, a share of the
 * output ledger; and what it owes the open ones: heartbeats, and a clean end
 * at shutdown.
 */
export class StreamAdmission {
  private readonly writers = new Set<SseWriter>();
  /** Stream slots, taken from the moment a request asks for one (before any await). */
  private readonly slots: Slots;
  /** Replay pages held by streams whose clients may not be reading. */
  readonly rowBudget: ByteBudget;
  readonly outputLedger: OutputLedger;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly shutdown = new AbortController();
  /** Aborted when the server starts shutting down: waits that would hold the drain (long-polls) end with it. */
  readonly closing: AbortSignal = this.shutdown.signal;

  constructor(private readonly options: StreamAdmissionOptions) {
    this.slots = new Slots(options.maxStreams);
    this.rowBudget = new ByteBudget(options.rowsMemoryBytes);
    this.outputLedger = new OutputLedger(options.totalBufferedBytes);
  }

  get openStreams(): number {
    return this.slots.inUse;
  }

  /** One of the `maxStreams` slots (see `Slots`), `undefined` when every one is taken. */
  reserveStream(): (() => void) | undefined {
    return this.slots.take();
  }

  start(): void {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatMs).unref();
  }

  /** Ends every stream cleanly, so clients reconnect (elsewhere) with their cursor; long-polls are answered as at their timeout. */
  endStreams(): void {
    this.shutdown.abort();
    for (const writer of this.writers) writer.end('server shutting down');
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    this.endStreams();
  }

  /** Tracks an open SSE writer for heartbeats and shutdown. */
  track(writer: SseWriter): void {
    this.writers.add(writer);
    writer.onClose(() => this.writers.delete(writer));
  }

  /** A writer still backed up is sending data anyway, and a keepalive must not cut a replay off. */
  private heartbeat(): void {
    for (const writer of this.writers) if (!writer.backedUp) writer.push(KEEPALIVE_FRAME);
  }
}
