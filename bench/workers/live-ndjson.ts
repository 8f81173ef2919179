// Streams live `token` events into sessions, one long NDJSON request per
// session (`POST /v1/sessions/:id/live`, application/x-ndjson), as a worker
// piping a model's token stream would. Paced: every `burstMs` each request
// gets the lines it owes at `perSecond` (shared by the sessions) in one write,
// each line stamped with its send time; a late tick sends what it owes, so the
// offered rate holds. Runs for `warmupMs + durationMs` (reporting `measuring`
// and `measured` around the counted part, workers/measured.ts), or, without
// `durationMs`, until `finish`, reporting `flowing` once `warmupMs` has passed.
import http from 'node:http';
import { wallMs } from '../lib.js';
import { measured } from './measured.js';
import { report, serve } from './worker.js';

interface Input {
  url: string;
  sessions: string[];
  perSecond: number;
  burstMs: number;
  warmupMs: number;
  durationMs?: number;
  /** The first event's index on every session (later runs on the same streams start above earlier ones). */
  firstIndex?: number;
}

interface Output {
  /** Per session: lines written, lines the server accepted (its 202's `accepted`), the answer's status. */
  sent: number[];
  accepted: number[];
  status: number[];
  /** This process's CPU (ms) over the counted window (0 without `durationMs`). */
  cpuMs: number;
}

serve<Input, Output>(async ({ url, sessions, perSecond, burstMs, warmupMs, durationMs, firstIndex = 0 }, control) => {
  const { hostname, port } = new URL(url);
  const window = durationMs === undefined ? undefined : measured(warmupMs, durationMs);
  let stop = false;
  if (window === undefined) {
    setTimeout(() => report({ type: 'flowing' }), warmupMs);
    control.on('finish', () => (stop = true));
  }
  const sent = sessions.map(() => 0);
  const status = sessions.map(() => 0);
  const accepted = sessions.map(() => 0);
  const requests = sessions.map((session, index) => {
    const request = http.request({
      hostname,
      port,
      agent: false,
      method: 'POST',
      path: `/v1/sessions/${session}/live`,
      headers: { 'content-type': 'application/x-ndjson' },
    });
    const answered = new Promise<void>((resolve) => {
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          status[index] = response.statusCode ?? 0;
          if (response.statusCode === 202) accepted[index] = (JSON.parse(text) as { accepted: number }).accepted;
          else console.error(`live-ndjson: ${session} answered ${response.statusCode}: ${text.slice(0, 300)}`);
          resolve();
        });
      });
      request.on('error', (error) => {
        console.error(`live-ndjson: ${session}: ${error.message}`);
        resolve();
      });
    });
    return { request, answered };
  });
  const perSession = perSecond / sessions.length;
  const start = performance.now();
  for (let tick = 1; !stop && !(window?.over() ?? false); tick++) {
    const owed = Math.floor(((performance.now() - start) * perSession) / 1000);
    const t = wallMs().toFixed(3);
    requests.forEach(({ request }, index) => {
      if (sent[index]! >= owed || status[index] !== 0) return;
      let lines = '';
      for (; sent[index]! < owed; sent[index]!++) lines += `{"type":"token","data":{"i":${firstIndex + sent[index]!},"t":${t},"text":" token"}}\n`;
      request.write(lines);
    });
    const wait = start + tick * burstMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  for (const { request } of requests) request.end();
  await Promise.all(requests.map((r) => r.answered));
  return { sent, accepted, status, cpuMs: window?.result().cpuMs ?? 0 };
});
