import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { EmbeddedPostgresHandle } from '../../src/db/embedded.js';
import { runMigrations } from '../../src/db/migrate.js';
import { call, createTestApp, type TestApp } from '../helpers/app.js';
import { embeddedPackageFor, startTestPostgres } from '../helpers/postgres.js';
import { createStandby, postmasterPid, type Standby } from '../helpers/replication.js';
import { SseClient, type SseMessage } from '../helpers/sse.js';

// A primary with a synchronous streaming standby, a server whose DATABASE_URL
// names both and wants the writable one, then the primary crashes and the
// standby is promoted while writers and subscribers are running.
let root: string;
let primary: EmbeddedPostgresHandle;
let primaryDir: string;
let standby: Standby;
let t: TestApp;

const STANDBY_NAME = 'standby1';
const SESSIONS = ['fo-0', 'fo-1', 'fo-2'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-failover-'));
  await chmod(root, 0o755);
  primaryDir = path.join(root, 'primary');
  primary = await startTestPostgres({ dataDir: primaryDir, database: 'failover' });
  await runMigrations(primary.url);
  standby = await createStandby({
    primaryAdminUrl: primary.adminUrl,
    primaryDataDir: primaryDir,
    standbyDataDir: path.join(root, 'standby'),
    packageName: embeddedPackageFor(inject('pgMajor')),
    applicationName: STANDBY_NAME,
  });
  const admin = postgres(primary.adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`alter system set synchronous_standby_names = '"${STANDBY_NAME}"'`);
    await admin`select pg_reload_conf()`;
    for (let tries = 0; ; tries++) {
      const [row] = await admin`select sync_state from pg_stat_replication where application_name = ${STANDBY_NAME}`;
      if (row?.sync_state === 'sync') break;
      if (tries > 300) throw new Error(`the standby is not a synchronous standby: ${JSON.stringify(row)}`);
      await sleep(100);
    }
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres:postgres@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/failover?target_session_attrs=read-write`;
  t = await createTestApp({ databaseUrl: url, env: { DB_CONNECT_TIMEOUT_S: '2' } });
  await t.listen();
}, 120_000);
const followers: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(followers.map((follower) => follower.stop()));
  await t?.close();
  // The primary was crashed on purpose; only the (promoted) standby is still running.
  await standby?.stop();
  await rm(root, { recursive: true, force: true });
});

/** A subscriber that, like EventSource, reconnects with Last-Event-ID whenever its stream ends. */
function follow(sessionId: string) {
  const received: SseMessage[] = [];
  let current: SseClient | undefined;
  let stopped = false;
  let reconnects = 0;
  const done = (async () => {
    while (!stopped) {
      const last = received.at(-1)?.id;
      const client = await SseClient.open(
        `${t.baseUrl}/v1/sessions/${sessionId}/stream`,
        last === undefined ? {} : { 'last-event-id': last },
      ).catch(() => undefined);
      if (!client || client.status !== 200) {
        await client?.close();
        await sleep(100);
        continue;
      }
      current = client;
      let seen = 0;
      await client.waitFor(
        () => {
          for (const message of client.durable.slice(seen)) received.push(message);
          seen = client.durable.length;
          return client.ended || stopped;
        },
        'the stream to end',
        600_000,
      );
      if (!stopped) reconnects++;
    }
  })();
  const follower = {
    received,
    reconnects: () => reconnects,
    async stop() {
      stopped = true;
      await current?.close();
      await done;
    },
  };
  followers.push(follower);
  return follower;
}

async function history(sessionId: string) {
  const events: { seq: number; data: { w: number; i: number } }[] = [];
  let after = 0;
  for (;;) {
    const page = (await call(t.app, 'GET', `/v1/sessions/${sessionId}/events?after=${after}&limit=1000`)).json();
    events.push(...page.events);
    after = page.last_seq;
    if (!page.has_more) return events;
  }
}

describe('failover to a synchronous standby', () => {
  it('loses no acknowledged write, answers 503 only during the switch, resumes streams, and /readyz tells the truth', async () => {
    for (const id of SESSIONS) expect((await call(t.app, 'POST', '/v1/sessions', { id })).statusCode).toBe(201);
    const subscribers = SESSIONS.map(follow);

    // Requests are labelled with the phases they started and ended in.
    type Phase = 'before' | 'crashing' | 'primary down' | 'promoting' | 'recovered';
    let phase: Phase = 'before';
    const acknowledged = new Map<string, { session: string; seq: number }>();
    const failures: { phase: Phase; ended: Phase; status: number; code: unknown; retryAfter: unknown }[] = [];
    let stop = false;
    async function writer(w: number): Promise<void> {
      const session = SESSIONS[w % SESSIONS.length]!;
      for (let i = 0; !stop; i++) {
        const startedIn = phase;
        const res = await call(t.app, 'POST', `/v1/sessions/${session}/events`, { events: [{ type: 'w', data: { w, i } }] });
        if (res.statusCode === 201) acknowledged.set(`${w}:${i}`, { session, seq: res.json().first_seq });
        else {
          failures.push({ phase: startedIn, ended: phase, status: res.statusCode, code: res.json().code, retryAfter: res.headers['retry-after'] });
          await sleep(20);
        }
      }
    }
    const readiness: { phase: Phase; ended: Phase; status: number; reason: unknown }[] = [];
    async function probeReadiness(): Promise<void> {
      while (!stop) {
        const startedIn = phase;
        const res = await call(t.app, 'GET', '/readyz');
        readiness.push({ phase: startedIn, ended: phase, status: res.statusCode, reason: res.json().reason });
        await sleep(50);
      }
    }
    const running = Promise.all([...[0, 1, 2, 3, 4, 5].map(writer), probeReadiness()]);
    // What a failure below says besides its expectation: where the run stood.
    const state = () => {
      const failed: Record<string, number> = {};
      for (const f of failures) failed[f.phase] = (failed[f.phase] ?? 0) + 1;
      return (
        `phase "${phase}": ${acknowledged.size} writes acknowledged, failed by the phase they started in ${JSON.stringify(failed)}, ` +
        `last /readyz ${JSON.stringify(readiness.at(-1))}`
      );
    };
    let answered: boolean;
    try {
      await explained(state, () => expect.poll(() => acknowledged.size, { timeout: 60_000 }).toBeGreaterThan(60));
      // Crash the primary: SIGQUIT is PostgreSQL's immediate shutdown, no checkpoint, backends gone.
      const pid = await postmasterPid(primaryDir);
      phase = 'crashing';
      process.kill(pid, 'SIGQUIT');
      await expect.poll(() => isAlive(pid), { timeout: 60_000 }).toBe(false);
      phase = 'primary down';
      // No writable host is left: readiness and writes must say so.
      await explained(state, () =>
        expect.poll(() => readiness.filter((r) => r.phase === 'primary down').length, { timeout: 60_000 }).toBeGreaterThan(3),
      );
      await explained(state, () =>
        expect.poll(() => failures.filter((f) => f.phase === 'primary down').length, { timeout: 60_000 }).toBeGreaterThan(3),
      );

      phase = 'promoting';
      const standbyAdmin = postgres(standby.url('postgres'), { max: 1, onnotice: () => {} });
      try {
        const [row] = await standbyAdmin<{ promoted: boolean }[]>`select pg_promote(true, 60) as promoted`;
        expect(row?.promoted).toBe(true);
      } finally {
        await standbyAdmin.end();
      }
      await explained(state, () =>
        expect.poll(async () => (await call(t.app, 'GET', '/readyz')).statusCode, { timeout: 60_000, interval: 100 }).toBe(200),
      );
      phase = 'recovered';
      const ackedAtRecovery = acknowledged.size;
      await explained(state, () => expect.poll(() => acknowledged.size, { timeout: 60_000 }).toBeGreaterThan(ackedAtRecovery + 60));
      // The writers can outrun the readiness probe's 50 ms pace: wait for a probe that started after recovery.
      await explained(state, () => expect.poll(() => readiness.some((r) => r.phase === 'recovered'), { timeout: 60_000 }).toBe(true));
    } finally {
      // Also when an expectation above failed: nothing may keep calling the app after the file closes it.
      stop = true;
      // A request that never answers would hold this until the test's timeout and hide why; closing the app ends it.
      let timer: NodeJS.Timeout | undefined;
      answered = await Promise.race([running.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 30_000, false)))]);
      clearTimeout(timer);
    }
    if (!answered) throw new Error(`requests still unanswered 30 s after the writers stopped (${state()})`);

    // Writes failed only while no writable database existed, and said so: 503, retry shortly.
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(failure).toMatchObject({ status: 503, code: 'database_unavailable', retryAfter: '1' });
      // In flight at the crash, or started before the server could reach the promoted standby.
      expect(failure.ended).not.toBe('before');
      expect(failure.phase).not.toBe('recovered');
    }
    // /readyz: ready before, not ready while there was no writable host, ready after. A probe counts for a phase
    // when it started and ended in it: one in flight at the crash may rightly answer either way.
    const answers = (phase: Phase) =>
      [...new Set(readiness.filter((r) => r.phase === phase && r.ended === phase).map((r) => `${r.status} ${r.reason}`))];
    expect(answers('before')).toEqual(['200 undefined']);
    expect(answers('primary down').every((answer) => answer.startsWith('503 '))).toBe(true);
    expect(answers('recovered')).toEqual(['200 undefined']);

    for (const [index, session] of SESSIONS.entries()) {
      const events = await history(session);
      // A history is gapless and each write is in it once (unacknowledged ones may or may not be).
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const keys = events.map((e) => `${e.data.w}:${e.data.i}`);
      expect(new Set(keys).size).toBe(keys.length);
      const stored = new Map(events.map((e) => [`${e.data.w}:${e.data.i}`, e.seq]));
      for (const [key, ack] of acknowledged) {
        if (ack.session === session) expect(stored.get(key), `acknowledged write ${key} in ${session}`).toBe(ack.seq);
      }
      // Every subscriber saw exactly that history: no gap, no duplicate, none of a lost write.
      const follower = subscribers[index]!;
      await expect.poll(() => follower.received.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(events.length);
      await follower.stop();
      expect(follower.received.map((m) => Number(m.id))).toEqual(events.map((e) => e.seq));
      expect(follower.received.map((m) => `${m.json.data.w}:${m.json.data.i}`)).toEqual(keys);
    }
  }, 300_000);
});

/** Runs an expectation; when it fails, its message also says where the run stood. */
async function explained(state: () => string, expectation: () => Promise<unknown>): Promise<void> {
  try {
    await expectation();
  } catch (error) {
    if (error instanceof Error) error.message = `${error.message}\n  at ${state()}`;
    throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
