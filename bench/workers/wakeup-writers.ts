// Writers for bench/wal-wakeups.ts: one connection and one session per writer,
// each loop the server's append (row lock, then `sendAppend`'s one statement
// pipelined with the COMMIT), never a NOTIFY in the write. With `publish`, the
// server's own WakeupPublisher sends what committed afterwards (today's design);
// without, nothing is published and a WAL reader must find the commits.
import postgres from 'postgres';
import { inFlight } from '../../src/db/pipeline.js';
import { sendAppend } from '../../src/events/statements.js';
import { wakeAfterCommit, WakeupPublisher } from '../../src/wakeups/publisher.js';
import { wallMs } from '../lib.js';
import { measured } from './measured.js';
import { serve } from './worker.js';

interface Input {
  dbUrl: string;
  sessions: { sid: number; id: string }[];
  warmupMs: number;
  durationMs: number;
  publish: boolean;
  /** Default: the server's MIN_FLUSH_INTERVAL_MS. */
  flushIntervalMs?: number;
}

export interface WritersResult {
  count: number;
  cpuMs: number;
  /** Wall-clock ms (performance.timeOrigin + now) of the counted window. */
  windowStart: number;
  windowEnd: number;
  /** Per session id: [seq, commit wall-clock ms] of every commit, warm-up included. */
  commits: Record<string, [number, number][]>;
  notifyTransactions: number;
}

// An orchestrator that died (or was stopped) never sends `stop`: go with it.
process.on('disconnect', () => process.exit(1));

serve<Input, WritersResult>(async ({ dbUrl, sessions, warmupMs, durationMs, publish, flushIntervalMs }, signal) => {
  // The orchestrator reads the cluster's CPU when the window ends: the connections stay open until it has.
  const sampled = new Promise<void>((resolve) => signal.on('sampled', () => resolve()));
  // One connection per writer and one for the publisher's flushes, as the server's pool has spare ones.
  const sql = postgres(dbUrl, { max: sessions.length + 1, onnotice: () => {} });
  let notifyTransactions = 0;
  const publisher = new WakeupPublisher({
    db: sql,
    log: { warn: (...args: unknown[]) => console.error('publisher:', ...args) },
    onFlush: () => notifyTransactions++,
    ...(flushIntervalMs === undefined ? {} : { minFlushIntervalMs: flushIntervalMs }),
  });
  await sql`select 1`;
  let windowStart = 0;
  let windowEnd = 0;
  setTimeout(() => (windowStart = wallMs()), warmupMs);
  setTimeout(() => (windowEnd = wallMs()), warmupMs + durationMs);
  const window = measured(warmupMs, durationMs);
  const commits: Record<string, [number, number][]> = {};
  await Promise.all(
    sessions.map(async ({ sid, id }) => {
      const mine: [number, number][] = (commits[id] = []);
      while (!window.over()) {
        let seq = 0;
        let committed: postgres.TransactionSql | undefined;
        const { pending } = await sql.begin(async (tx) => {
          committed = tx;
          const [row] = await tx`select version, last_seq from sessions where sid = ${sid} for update`;
          const version = Number(row?.version) + 1;
          seq = Number(row?.last_seq) + 1;
          const dataJson = JSON.stringify({ merge_patch: { counter: version, at: 'bench' } });
          if (publish) wakeAfterCommit(tx, { kind: 'append', session_id: id, seq });
          // Left in flight: it goes ahead of the COMMIT, as writeSession sends it (an object: an array would be awaited).
          return { pending: inFlight([sendAppend(tx, { sid, firstSeq: seq, events: [{ type: 'state.delta', dataJson, version }], set: { version, last_seq: seq } })]) };
        });
        await pending;
        mine.push([seq, wallMs()]);
        if (publish && committed) publisher.publishCommitted(committed);
        window.done();
      }
    }),
  );
  await publisher.drain();
  await sampled;
  await sql.end();
  return { ...window.result(), windowStart, windowEnd, commits, notifyTransactions };
});
