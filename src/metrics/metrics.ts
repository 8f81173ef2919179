import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor({ defaults = true }: { defaults?: boolean } = {}) {
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'session_sync_' });
  }
}
