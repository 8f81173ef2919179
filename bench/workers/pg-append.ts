// The baseline for append throughput: postgres.js alone doing the same database
// work as one delta (row lock, event insert, version bump, NOTIFY), at the same concurrency.
import postgres from 'postgres';
import { measured } from './measured.js';
import { serve } from './worker.js';

interface Input {
  dbUrl: string;
  sessions: { sid: number; id: string }[];
  warmupMs: number;
  durationMs: number;
  /** Connections (default: one per session); fewer, and writers wait for one, as behind a server's pool. */
  poolMax?: number;
}

serve<Input, { count: number; cpuMs: number }>(async ({ dbUrl, sessions, warmupMs, durationMs, poolMax }) => {
  const sql = postgres(dbUrl, { max: poolMax ?? sessions.length, onnotice: () => {} });
  const window = measured(warmupMs, durationMs);
  await Promise.all(
    sessions.map(async ({ sid, id }) => {
      while (!window.over()) {
        await sql.begin(async (tx) => {
          const [row] = await tx`select version, last_seq from sessions where sid = ${sid} for update`;
          const version = Number(row?.version) + 1;
          const seq = Number(row?.last_seq) + 1;
          const data = JSON.stringify({ merge_patch: { counter: version, at: 'bench' } });
          await Promise.all([
            tx`insert into events (session_sid, seq, type, data, version) values (${sid}, ${seq}, 'state.delta', ${data}::json, ${version})`,
            tx`update sessions set version = ${version}, last_seq = ${seq}, updated_at = now() where sid = ${sid}`,
            tx`select pg_notify('session_sync', ${JSON.stringify({ session_id: id, seq })})`,
          ]);
        });
        window.done();
      }
    }),
  );
  await sql.end();
  return window.result();
});
