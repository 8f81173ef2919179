/**
 * `npm run soak`: several server instances on one PostgreSQL, writers and
 * subscribers running, random faults for a set time, then a checker.
 *
 * Faults: an instance killed with SIGKILL (restarted a moment later), every
 * backend of the database terminated (pools and LISTEN connections), and the
 * database restarted. Writers append one event per request to a random live
 * instance; an answer 201 is an acknowledged write, anything else (5xx, a cut
 * connection) leaves the write's fate unknown. Subscribers follow a session
 * over SSE and, like EventSource, reconnect with Last-Event-ID (to any
 * instance) whenever their stream ends.
 *
 * The checker: every acknowledged write is in its session's history exactly
 * once, a write of unknown fate at most once, nothing else is there, and every
 * subscriber received the whole history in order with no gap or duplicate.
 *
 * Environment: SOAK_SECONDS (60), SOAK_INSTANCES (3), SOAK_SESSIONS (3),
 * SOAK_WRITERS (6), SOAK_SUBSCRIBERS (6), SOAK_FAULT_EVERY_MS (4000).
 * Exits 1 when anything acknowledged was lost or a subscriber saw a gap.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createParser } from 'eventsource-parser';
import postgres from 'postgres';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number`);
  return value;
};
const SECONDS = env('SOAK_SECONDS', 60);
const INSTANCES = env('SOAK_INSTANCES', 3);
const SESSIONS = env('SOAK_SESSIONS', 3);
const WRITERS = env('SOAK_WRITERS', 6);
const SUBSCRIBERS = env('SOAK_SUBSCRIBERS', 6);
const FAULT_EVERY_MS = env('SOAK_FAULT_EVERY_MS', 4000);
const CATCH_UP_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const sessionIds = Array.from({ length: SESSIONS }, (_, i) => `soak-${i}`);

interface Instance {
  port: number;
  child: ChildProcess | undefined;
  up: boolean;
}

const root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-soak-'));
await chmod(root, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), database: 'soak' });
await runMigrations(pg.url);
const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });

const instances: Instance[] = [];
for (let i = 0; i < INSTANCES; i++) instances.push({ port: await freePort(), child: undefined, up: false });
const base = (instance: Instance) => `http://127.0.0.1:${instance.port}`;

async function startInstance(instance: Instance): Promise<void> {
  // A start can fail while the database is restarting (migrations need it): try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startInstanceOnce(instance);
    } catch (error) {
      if (attempt === 10) throw error;
      await sleep(500);
    }
  }
}

async function startInstanceOnce(instance: Instance): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', PORT: String(instance.port), DATABASE_URL: pg.url, DB_CONNECT_TIMEOUT_S: '2' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  instance.child = child;
  child.once('exit', () => {
    if (instance.child === child) instance.up = false;
  });
  for (let tries = 0; tries < 600; tries++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await fetch(`${base(instance)}/healthz`).then((r) => r.ok, () => false)) {
      instance.up = true;
      return;
    }
    await sleep(100);
  }
  throw new Error(`instance on port ${instance.port} did not start`);
}

// The instances are killed and restarted by port; nothing else of ours may outlive this script.
process.once('exit', () => {
  for (const instance of instances) instance.child?.kill('SIGKILL');
});

await Promise.all(instances.map(startInstance));
for (const id of sessionIds) {
  const res = await fetch(`${base(instances[0]!)}/v1/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id }),
  });
  if (res.status !== 201) throw new Error(`could not create ${id}: ${res.status}`);
}

let running = true;
const acknowledged = new Map<string, { session: string; seq: number }>();
const unknown = new Map<string, string>();
const rejected: string[] = [];
const statuses = new Map<string, number>();
const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

async function writer(w: number): Promise<void> {
  for (let i = 0; running; i++) {
    const session = pick(sessionIds);
    const live = instances.filter((x) => x.up);
    if (live.length === 0) {
      await sleep(50);
      i--;
      continue;
    }
    const key = `${w}:${i}`;
    try {
      const res = await fetch(`${base(pick(live))}/v1/sessions/${session}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events: [{ type: 'soak', data: { w, i } }] }),
        signal: AbortSignal.timeout(30_000),
      });
      count(String(res.status));
      const body = (await res.json().catch(() => ({}))) as { first_seq?: number; code?: string };
      if (res.status === 201 && typeof body.first_seq === 'number') acknowledged.set(key, { session, seq: body.first_seq });
      else if (res.status >= 500) unknown.set(key, session);
      else rejected.push(`${key}: ${res.status} ${body.code ?? ''}`);
      if (res.status !== 201) await sleep(50);
    } catch {
      count('network error');
      unknown.set(key, session);
      await sleep(50);
    }
  }
}

interface Follower {
  session: string;
  received: { seq: number; key: string }[];
  gaps: number;
  duplicates: number;
  reconnects: number;
  done: Promise<void>;
  abort: AbortController | undefined;
  stopped: boolean;
}

function follow(session: string): Follower {
  const follower: Follower = { session, received: [], gaps: 0, duplicates: 0, reconnects: 0, done: Promise.resolve(), abort: undefined, stopped: false };
  follower.done = (async () => {
    while (!follower.stopped) {
      const live = instances.filter((x) => x.up);
      if (live.length === 0) {
        await sleep(100);
        continue;
      }
      const last = follower.received.at(-1)?.seq;
      follower.abort = new AbortController();
      try {
        const res = await fetch(`${base(pick(live))}/v1/sessions/${session}/stream`, {
          headers: { accept: 'text/event-stream', ...(last === undefined ? {} : { 'last-event-id': String(last) }) },
          signal: follower.abort.signal,
        });
        if (res.status !== 200 || !res.body) {
          await res.body?.cancel();
          await sleep(100);
          continue;
        }
        const parser = createParser({
          onEvent: (message) => {
            if (message.id === undefined) return;
            const seq = Number(message.id);
            const previous = follower.received.at(-1)?.seq ?? 0;
            if (seq <= previous) follower.duplicates++;
            else if (seq !== previous + 1) follower.gaps++;
            const data = JSON.parse(message.data) as { data: { w: number; i: number } };
            follower.received.push({ seq, key: `${data.data.w}:${data.data.i}` });
          },
        });
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      } catch {
        // A killed instance or a cut stream: reconnect below, like EventSource.
      }
      if (!follower.stopped) {
        follower.reconnects++;
        await sleep(100);
      }
    }
  })();
  return follower;
}

const faults = { 'instance kill': 0, 'backend terminations': 0, 'database restart': 0 };
async function injectFaults(): Promise<void> {
  while (running) {
    await sleep(FAULT_EVERY_MS / 2 + Math.random() * FAULT_EVERY_MS);
    if (!running) return;
    const kind = pick(Object.keys(faults) as (keyof typeof faults)[]);
    faults[kind]++;
    if (kind === 'instance kill') {
      const victim = pick(instances.filter((x) => x.up));
      if (!victim) continue;
      const child = victim.child;
      victim.up = false;
      child?.kill('SIGKILL');
      await new Promise((resolve) => (child && child.exitCode === null && child.signalCode === null ? child.once('exit', resolve) : resolve(undefined)));
      await sleep(500 + Math.random() * 1500);
      await startInstance(victim);
    } else if (kind === 'backend terminations') {
      await admin`select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = 'soak' and pid <> pg_backend_pid()`;
    } else {
      await pg.stop();
      await sleep(500 + Math.random() * 2000);
      await pg.start();
      await admin`select 1`;
    }
  }
}

async function history(session: string): Promise<{ seq: number; data: { w: number; i: number } }[]> {
  const events: { seq: number; data: { w: number; i: number } }[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(`${base(instances.find((x) => x.up)!)}/v1/sessions/${session}/events?after=${after}&limit=1000`);
    const page = (await res.json()) as { events: typeof events; last_seq: number; has_more: boolean };
    events.push(...page.events);
    after = page.last_seq;
    if (!page.has_more) return events;
  }
}

const started = Date.now();
console.log(
  `soak: ${SECONDS} s, ${INSTANCES} instances, ${WRITERS} writers, ${SUBSCRIBERS} subscribers on ${SESSIONS} sessions, a fault every ~${FAULT_EVERY_MS} ms`,
);
const followers = Array.from({ length: SUBSCRIBERS }, (_, i) => follow(sessionIds[i % SESSIONS]!));
const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
const faulting = injectFaults();
const progress = setInterval(() => {
  const total = Object.values(faults).reduce((a, b) => a + b, 0);
  console.log(`  ${Math.round((Date.now() - started) / 1000)} s: ${acknowledged.size} acknowledged, ${unknown.size} unknown, ${total} faults`);
}, 30_000);
await sleep(SECONDS * 1000);
running = false;
await faulting;
await Promise.all(writers);
clearInterval(progress);
// Everything back up before checking.
for (const instance of instances) if (!instance.up) await startInstance(instance);

let losses = 0;
let historyGaps = 0;
let duplicates = 0;
let strangers = 0;
let unknownStored = 0;
let subscriberGaps = 0;
let subscriberDuplicates = 0;
let subscriberMismatches = 0;
let reconnects = 0;
for (const session of sessionIds) {
  const events = await history(session);
  if (events.some((event, i) => event.seq !== i + 1)) historyGaps++;
  const stored = new Map<string, number[]>();
  for (const event of events) {
    const key = `${event.data.w}:${event.data.i}`;
    stored.set(key, [...(stored.get(key) ?? []), event.seq]);
  }
  for (const [key, ack] of acknowledged) {
    if (ack.session !== session) continue;
    const seqs = stored.get(key) ?? [];
    if (seqs.length === 0) losses++;
    else if (seqs.length > 1 || seqs[0] !== ack.seq) duplicates++;
  }
  for (const [key, seqs] of stored) {
    if (acknowledged.get(key)?.session === session) continue;
    if (unknown.get(key) === session) {
      unknownStored++;
      if (seqs.length > 1) duplicates++;
    } else strangers++;
  }
  const keys = events.map((e) => `${e.data.w}:${e.data.i}`);
  for (const follower of followers.filter((f) => f.session === session)) {
    const deadline = Date.now() + CATCH_UP_MS;
    while (follower.received.length < events.length && Date.now() < deadline) await sleep(100);
    follower.stopped = true;
    follower.abort?.abort();
    await follower.done;
    subscriberGaps += follower.gaps;
    subscriberDuplicates += follower.duplicates;
    reconnects += follower.reconnects;
    const got = follower.received.map((r) => r.key);
    if (got.length !== keys.length || got.some((key, i) => key !== keys[i])) subscriberMismatches++;
  }
}

const totalFaults = Object.values(faults).reduce((a, b) => a + b, 0);
console.log(`
writes acknowledged: ${acknowledged.size}
writes of unknown fate: ${unknown.size} (${unknownStored} of them committed)
writes rejected (4xx): ${rejected.length}${rejected.length ? ` e.g. ${rejected.slice(0, 3).join('; ')}` : ''}
answers: ${[...statuses].map(([status, n]) => `${status} x${n}`).join(', ')}
faults injected: ${totalFaults} (${Object.entries(faults).map(([kind, n]) => `${kind} ${n}`).join(', ')})
subscriber reconnects: ${reconnects}
losses: ${losses}
histories with a gap in seq: ${historyGaps}
duplicates: ${duplicates}, writes nobody made: ${strangers}
subscriber gaps: ${subscriberGaps}, subscriber duplicates: ${subscriberDuplicates}, subscribers not matching the history: ${subscriberMismatches}`);

for (const instance of instances) instance.child?.kill('SIGTERM');
await Promise.all(
  instances.map((instance) => new Promise((resolve) => (instance.child && instance.child.exitCode === null ? instance.child.once('exit', resolve) : resolve(undefined)))),
);
await admin.end();
await pg.stop();
await rm(root, { recursive: true, force: true });
const failed = losses + historyGaps + duplicates + strangers + subscriberGaps + subscriberDuplicates + subscriberMismatches + rejected.length;
console.log(failed === 0 ? 'soak: passed' : 'soak: FAILED');
process.exit(failed === 0 ? 0 : 1);
