// One SSE stream per session, following live `token` events (scenario 9).
// Each event carries its index on its session's stream and when it was sent
// (`data: {i, t}`), so this side counts what arrived, in what order, and how
// long it took. On `finish` (which says how many events each stream should
// have, and which windows of wall time were measured) it waits for the
// stragglers, then answers with totals only: the events themselves stay here.
import { percentile, wallMs } from '../lib.js';
import { openStream, type StreamHandle } from './sse.js';
import { report, serve } from './worker.js';

interface Input {
  url: string;
  sessions: string[];
}

interface Finish {
  /** Per stream, the events its publisher had accepted. */
  expect: number[];
  /** Measured windows (wall ms): receipts inside them are counted, and latencies of events sent inside them kept. */
  windows: { start: number; end: number }[];
  /** How long to wait with nothing new arriving before answering anyway. */
  settleMs?: number;
}

export interface LiveReceipts {
  /** Per stream, distinct events received. */
  distinct: number[];
  /** Events received twice, or after one sent later. */
  disorder: number;
  /** Streams the server ended before `finish` (e.g. cut off as slow readers). */
  ended: number;
  /** Events received inside the windows (by time of receipt). */
  receivedInWindows: number;
  /** Publish-to-receipt (ms) of the events sent inside the windows. */
  latency: { count: number; p50: number; p99: number; max: number };
  /** This process's CPU (ms) from when every stream was ready to `finish`. */
  cpuMs: number;
}

serve<Input, LiveReceipts>(async ({ url, sessions }, control) => {
  const seen = sessions.map(() => new Set<number>());
  const last = sessions.map(() => -1);
  let disorder = 0;
  let ended = 0;
  let finishing = false;
  // Flat, to keep 100,000s of receipts cheap: when each was sent, and when it arrived.
  const sentAt: number[] = [];
  const receivedAt: number[] = [];
  const handles: StreamHandle[] = [];
  await Promise.all(
    sessions.map(
      (session, index) =>
        new Promise<void>((resolve) => {
          const handle = openStream(`${url}/v1/sessions/${session}/stream?after=now`, (message) => {
            if (message.event === 'token') {
              const at = wallMs();
              const { i, t } = (JSON.parse(message.data) as { data: { i: number; t: number } }).data;
              if (seen[index]!.has(i) || i < last[index]!) disorder++;
              seen[index]!.add(i);
              last[index] = Math.max(last[index]!, i);
              sentAt.push(t);
              receivedAt.push(at);
            } else if (message.event === 'session.activity' && message.data.includes('"cursor"')) resolve();
          });
          handles.push(handle);
          void handle.ended.then(() => {
            if (!finishing) ended++;
            resolve();
          });
        }),
    ),
  );
  report({ type: 'ready' });
  const cpuAtReady = process.cpuUsage();
  const { expect, windows, settleMs = 3000 } = await new Promise<Finish>((resolve) => control.on('finish', (message) => resolve(message as Finish)));
  // Wait until every stream has what its publisher had accepted, or nothing has come for settleMs.
  let count = receivedAt.length;
  let quietSince = performance.now();
  while (seen.some((s, i) => s.size < (expect[i] ?? 0)) && performance.now() - quietSince < settleMs) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (receivedAt.length !== count) [count, quietSince] = [receivedAt.length, performance.now()];
  }
  finishing = true;
  const cpu = process.cpuUsage(cpuAtReady);
  for (const handle of handles) handle.close();
  const inWindows = (at: number) => windows.some((w) => at >= w.start && at < w.end);
  const latencies: number[] = [];
  let receivedInWindows = 0;
  for (let k = 0; k < receivedAt.length; k++) {
    if (inWindows(receivedAt[k]!)) receivedInWindows++;
    if (inWindows(sentAt[k]!)) latencies.push(receivedAt[k]! - sentAt[k]!);
  }
  latencies.sort((a, b) => a - b);
  return {
    distinct: seen.map((s) => s.size),
    disorder,
    ended,
    receivedInWindows,
    latency: { count: latencies.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? NaN },
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
});
