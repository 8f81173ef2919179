import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance (tests run several in one process). */
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'session_sync_http_request_duration_seconds',
    help: 'HTTP request latency by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly stateWrites = new Counter({
    name: 'session_sync_state_writes_total',
    help: 'Accepted state writes (snapshots and deltas).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly conflicts = new Counter({
    name: 'session_sync_conflicts_total',
    help: 'Writes refused with a 409 conflict, by problem code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly stateUnreadable = new Counter({
    name: 'session_sync_state_unreadable_total',
    help: 'Reads and writes refused because a stored json state could not be rebuilt (state_unreadable).',
    registers: [this.registry],
  });

  readonly streamReads = new Counter({
    name: 'session_sync_stream_tail_reads_total',
    help: 'Database reads made by session tails (one per wakeup per session, shared by its subscribers).',
    registers: [this.registry],
  });

  readonly streamFaceReads = new Counter({
    name: 'session_sync_stream_face_reads_total',
    help: 'Page reads made by Durable Streams reads (/v1/stream); readers of the same page at the same moment share one.',
    registers: [this.registry],
  });

  readonly slowReaders = new Counter({
    name: 'session_sync_stream_slow_disconnects_total',
    help: 'Streams cut off because their unsent output passed SSE_MAX_BUFFER_BYTES.',
    registers: [this.registry],
  });

  readonly sweepRuns = new Counter({
    name: 'session_sync_sweep_runs_total',
    help: 'Runs of each background sweep, by outcome (ok, failed).',
    labelNames: ['sweep', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly sweepDuration = new Histogram({
    name: 'session_sync_sweep_duration_seconds',
    help: 'How long each run of a background sweep took.',
    labelNames: ['sweep'] as const,
    buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60],
    registers: [this.registry],
  });

  readonly wakeupTransactions = new Counter({
    name: 'session_sync_wakeup_notify_transactions_total',
    help: 'NOTIFY transactions this process sent to publish wakeups and live events, by outcome (ok, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly wakeupsPublished = new Counter({
    name: 'session_sync_wakeups_published_total',
    help: 'Notifications published, by kind: append (wakeups; coalesced appends count once), live (events), activity.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly wakeupPayloads = new Counter({
    name: 'session_sync_wakeup_payloads_total',
    help: 'NOTIFY payloads sent; each packs one or more wakeups.',
    registers: [this.registry],
  });

  readonly wakeupDelaySeconds = new Histogram({
    name: 'session_sync_wakeup_delay_seconds',
    help: 'How long the oldest wakeup or live event of each NOTIFY transaction waited for it (from its commit, for a wakeup).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
    registers: [this.registry],
  });

  readonly wakeupFlushSeconds = new Histogram({
    name: 'session_sync_wakeup_flush_seconds',
    help: 'How long one NOTIFY transaction of the wakeup publisher took.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
    registers: [this.registry],
  });

  readonly writeTransactions = new Counter({
    name: 'session_sync_write_transactions_total',
    help: 'Transactions of session writes, by outcome (committed, rolled_back, rerun: a group rolled back for one write and ran its others again).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly writeTransactionSeconds = new Histogram({
    name: 'session_sync_write_transaction_seconds',
    help: 'How long one transaction of session writes took, from BEGIN to the end of its COMMIT (commit latency).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5],
    registers: [this.registry],
  });

  readonly writesPerTransaction = new Histogram({
    name: 'session_sync_writes_per_transaction',
    help: 'Session writes that shared one transaction (group commit).',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  /** Reports `read()` as the gauge of session writes waiting for a write transaction. */
  observeWaitingWrites(read: () => number): void {
    new Gauge({
      name: 'session_sync_writes_waiting',
      help: 'Session writes waiting for a write transaction (all WRITE_CONCURRENCY of them running); the next one takes them together.',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Reports `read()` as the open-stream gauge at each scrape. */
  observeOpenStreams(read: () => number): void {
    new Gauge({
      name: 'session_sync_open_streams',
      help: 'Open SSE streams (session streams and changes feeds) on this process.',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Reports `read()` as the gauge of row-budget bytes held at each scrape. */
  observeRowsMemory(read: () => number): void {
    new Gauge({
      name: 'session_sync_rows_memory_bytes',
      help: 'Bytes of ROWS_MEMORY_BYTES held on this process: event rows read for clients (and their output) until the clients take them.',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  constructor({ defaults = true }: { defaults?: boolean } = {}) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'session_sync_' });
  }
}
