import http from 'node:http';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, SessionSyncError, type SessionSyncClient } from '../../client/src/index.js';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase } from '../helpers/db.js';
import { TcpProxy } from '../helpers/proxy.js';
import { type ServerProcess, startServerProcess } from '../helpers/server-process.js';

// A worker killed at every point of a turn, then restarted, against a real
// server process (itself killed in one case): every input is processed
// exactly once, and state, history, messages, queue and attachments agree.

const LEASE_TTL = 3000;
const INPUTS = ['alpha', 'beta', 'gamma'];
/** The input whose turn the first worker dies in. */
const VICTIM = 'beta';

type CrashPoint =
  | 'after-claim' // dies with the input claimed, before any work
  | 'after-upload' // dies after uploading its output, before the turn
  | 'body-cut' // dies while sending the turn: the server gets half a body
  | 'server-killed' // the server dies while the turn waits inside its transaction
  | 'answer-lost' // the turn commits, the answer never arrives, the worker dies
  | 'answer-lost-resend' // the same, and the restarted worker sends its journaled turn again
  | 'after-commit'; // dies right after the answer

class Crash extends Error {}

let databaseUrl: string;
let port: number;
let server: ServerProcess;
let proxy: TcpProxy;
let admin: postgres.Sql;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  port = await freePort();
  server = await startServerProcess({ port, databaseUrl, env: { ATTACHMENT_CHUNK_BYTES: '1024' } });
  proxy = await new TcpProxy(port).listen();
  admin = postgres(databaseUrl, { max: 2, onnotice: () => {} });
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await proxy?.close();
  await server?.kill();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the worker keeps on its own disk: the turn it was sending, so a restart can send it again. */
type Journal = { body?: Record<string, unknown> };

async function claimLeaseWhenFree(client: SessionSyncClient, id: string) {
  for (;;) {
    try {
      return await client.claimLease(id, { owner: 'worker', ttlMs: LEASE_TTL, renew: false });
    } catch (error) {
      // The dead worker's lease runs out by itself.
      if (error instanceof SessionSyncError && error.code === 'lease_held') await sleep(LEASE_TTL / 3);
      else throw error;
    }
  }
}

/** One worker life: sends any journaled turn again, then processes inputs until none is pending, unless it crashes first. */
async function workerLife(id: string, journal: Journal, crashAt: CrashPoint | undefined): Promise<void> {
  // A dying worker does not retry: its last request is whatever it was.
  const client = createClient({ baseUrl: proxy.url, retry: { attempts: crashAt ? 1 : 5, baseDelayMs: 20, maxDelayMs: 200 } });
  if (journal.body) {
    try {
      await client.commitTurn(id, journal.body as never);
    } catch (error) {
      // Refused (its claim or lease is gone, or another turn moved the state): the input is still queued.
      if (!(error instanceof SessionSyncError) || error.status === 0 || error.status >= 500) throw error;
    }
    journal.body = undefined;
  }
  for (;;) {
    const lease = await claimLeaseWhenFree(client, id);
    const claim = await lease.session.claimQueue({ max_batches: 1, ttl_ms: 60_000 });
    if (!claim) {
      await lease.release();
      return;
    }
    const batch = claim.batches[0]!;
    const input = batch.items[0] as string;
    const crashing = input === VICTIM ? crashAt : undefined;
    if (crashing === 'after-claim') throw new Crash();
    const synced = await lease.session.sync();
    const file = await lease.session.uploadAttachment(`output of ${input}`, { contentType: 'text/plain' });
    if (crashing === 'after-upload') throw new Crash();
    const body = {
      // Derived from the input, so whoever processes this input names the turn alike.
      turn_id: `turn-${batch.batch_id}`,
      base_version: synced.version,
      state: { patch: [{ op: 'add' as const, path: '/processed/-', value: input }] },
      events: [{ type: 'work.done', data: input }],
      messages: [
        { role: 'user' as const, content: input },
        { role: 'assistant' as const, content: `done: ${input}` },
      ],
      complete_claims: [claim.claim_id],
      attachments: [file.attachment_id],
      usage: [{ model: 'test', input_tokens: 10, output_tokens: 1 }],
      release_lease: true,
    };
    journal.body = body;
    if (crashing === 'body-cut') {
      await sendHalf(`/v1/sessions/${id}/turns`, JSON.stringify(body), lease.token);
      throw new Crash();
    }
    if (crashing === 'server-killed') {
      await killServerInsideTurn(id, () => lease.session.commitTurn(body));
      throw new Crash();
    }
    if (crashing === 'answer-lost' || crashing === 'answer-lost-resend') {
      proxy.loseNextAnswer();
      await expect(lease.session.commitTurn(body)).rejects.toBeInstanceOf(SessionSyncError);
      if (crashing === 'answer-lost') journal.body = undefined;
      throw new Crash();
    }
    await lease.session.commitTurn(body);
    journal.body = undefined;
    if (crashing === 'after-commit') throw new Crash();
  }
}

/** Sends the headers and half the body of a turn, then drops the connection. */
async function sendHalf(path: string, body: string, leaseToken: string): Promise<void> {
  const request = http.request(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'lease-token': leaseToken },
  });
  request.on('error', () => {});
  await new Promise<void>((resolve) => request.write(body.slice(0, body.length / 2), () => resolve()));
  request.destroy();
}

/**
 * Holds the session's row lock so the turn waits inside its transaction,
 * SIGKILLs the server there, and starts it again.
 */
async function killServerInsideTurn(id: string, turn: () => Promise<unknown>): Promise<void> {
  let outcome: Promise<string> | undefined;
  await admin.begin(async (tx) => {
    await tx`select 1 from sessions where id = ${id} for update`;
    outcome = turn().then(
      () => 'answered',
      () => 'failed',
    );
    // The turn is waiting for the lock: its transaction has begun and holds work in progress.
    for (;;) {
      const [waiting] = await admin`select count(*)::int as n from pg_locks where not granted and locktype = 'transactionid'`;
      if ((waiting?.n ?? 0) > 0) break;
      await sleep(20);
    }
    await server.kill();
  });
  expect(await outcome).toBe('failed');
  server = await startServerProcess({ port, databaseUrl, env: { ATTACHMENT_CHUNK_BYTES: '1024' } });
}

async function expectProcessedOnce(id: string): Promise<void> {
  const client = createClient({ baseUrl: server.url });
  const synced = await client.sync(id);
  expect(synced.snapshot).toEqual({ processed: INPUTS });
  const events = [];
  for (let after = 0; ; ) {
    const page = await client.listEvents(id, { after, limit: 1000 });
    events.push(...page.events);
    if (!page.has_more) break;
    after = page.last_seq;
  }
  expect(events.filter((e) => e.type === 'work.done').map((e) => e.data)).toEqual(INPUTS);
  const committed = events.filter((e) => e.type === 'turn.committed');
  expect(committed).toHaveLength(INPUTS.length);
  expect(events.filter((e) => e.type === 'queue.completed')).toHaveLength(INPUTS.length);
  expect(events.filter((e) => e.type === 'attachment.committed')).toHaveLength(INPUTS.length);
  const messages = (await client.listMessages(id, { limit: 1000 })).messages;
  expect(messages.map((m) => m.content)).toEqual(INPUTS.flatMap((input) => [input, `done: ${input}`]));
  expect((await client.listQueue(id)).batches.map((b) => b.status)).toEqual(INPUTS.map(() => 'completed'));
  const files = (await client.listAttachments(id)).attachments;
  expect(files.map((f) => f.committed)).toEqual(INPUTS.map(() => true));
  for (const input of INPUTS) {
    const file = files.find((f) => f.size === Buffer.byteLength(`output of ${input}`) && f.committed);
    expect(file, input).toBeDefined();
  }
  const session = await client.getSession(id);
  expect(session.usage).toMatchObject({ input_tokens: 10 * INPUTS.length, output_tokens: INPUTS.length, turns: INPUTS.length });
  expect(session.message_count).toBe(2 * INPUTS.length);
  expect(session.lease).toBeNull();
}

describe('a worker killed at every point of a turn, and restarted', () => {
  const points: CrashPoint[] = ['after-claim', 'after-upload', 'body-cut', 'server-killed', 'answer-lost', 'answer-lost-resend', 'after-commit'];
  for (const point of points) {
    it(`${point}: every input processed exactly once`, { timeout: 90_000 }, async () => {
      const id = `crash-${point}`;
      const client = createClient({ baseUrl: proxy.url });
      await client.createSession({ id });
      await client.putSnapshot(id, { base_version: 0, schema_version: 1, snapshot: { processed: [] } });
      for (const input of INPUTS) await client.enqueue(id, { items: [input] });
      const journal: Journal = {};
      await expect(workerLife(id, journal, point)).rejects.toBeInstanceOf(Crash);
      if (point === 'answer-lost-resend') expect(journal.body).toBeDefined();
      // Restarted: a new process with nothing but its journal.
      await workerLife(id, journal, undefined);
      await expectProcessedOnce(id);
    });
  }
});
