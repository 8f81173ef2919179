// The receiving end for bench/wal-wakeups.ts, its own process so its CPU is
// its own: `listen` is today's LISTEN connection (payloads as the publisher
// packs them: one {session_id, seq} or an array of them); `wal` reads the
// sessions rows' updates from the WAL with postgres.js's `subscribe`
// (pgoutput, a temporary slot, the publication named). Records every
// (session id, seq) received with its wall-clock receipt time until told to stop.
import postgres from 'postgres';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { wallMs } from '../lib.js';
import { report, serve } from './worker.js';

interface Input {
  dbUrl: string;
  mode: 'listen' | 'wal';
  publication?: string;
}

export interface ConsumerResult {
  /** Per session id: [seq, receipt wall-clock ms], in order of receipt. */
  receipts: Record<string, [number, number][]>;
  messages: number;
}

// An orchestrator that died (or was stopped) never sends `stop`: go with it.
process.on('disconnect', () => process.exit(1));

serve<Input, ConsumerResult>(async ({ dbUrl, mode, publication }, signal) => {
  const receipts: Record<string, [number, number][]> = {};
  let messages = 0;
  const receive = (id: string, seq: number, at: number) => (receipts[id] ??= []).push([seq, at]);
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {}, ...(publication ? { publications: publication } : {}) });
  if (mode === 'listen') {
    await sql.listen(WAKEUP_CHANNEL, (payload) => {
      const at = wallMs();
      messages++;
      const parsed = JSON.parse(payload) as { session_id: string; seq: number } | { session_id: string; seq: number }[];
      for (const { session_id, seq } of Array.isArray(parsed) ? parsed : [parsed]) receive(session_id, seq, at);
    });
  } else {
    await sql.subscribe('update:sessions', (row) => {
      const at = wallMs();
      messages++;
      if (row) receive(String(row.id), Number(row.last_seq), at);
    });
  }
  report({ type: 'ready' });
  await new Promise<void>((resolve) => signal.on('stop', () => resolve()));
  await sql.end({ timeout: 1 });
  return { receipts, messages };
});
