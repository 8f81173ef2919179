/**
 * A worker against a local server, on the client (@session-sync/client):
 * claim the lease, sync the state, take queued input, stream a reply's tokens
 * as live events, push the turn as a delta, release.
 *
 *   npm run example:worker -- [session-id]
 *
 * SESSION_SYNC_URL (default http://127.0.0.1:8080) and SESSION_SYNC_TOKEN
 * (when the server has AUTH_SECRET) say where and as whom.
 */
import { PROBLEM, SessionSyncError, createClient, type LeasedSession } from '@session-sync/client';

interface Conversation {
  turns: { input: unknown; reply: string }[];
}

const id = process.argv[2] ?? 'demo';
const client = createClient({
  baseUrl: process.env.SESSION_SYNC_URL ?? 'http://127.0.0.1:8080',
  token: process.env.SESSION_SYNC_TOKEN,
});

await client.createSession({ id }).catch((error: unknown) => {
  if (!(error instanceof SessionSyncError && error.code === PROBLEM.sessionExists)) throw error;
});

const lease = await client.claimLease(id, { owner: `example-worker-${process.pid}`, ttlMs: 15_000 });
console.log(`lease on ${id}: fencing token ${lease.fencingToken}`);
const { session, signal } = lease;
try {
  let { version, state } = await load(session);
  console.log(`synced: version ${version}, ${state.turns.length} turns so far`);

  // A dashboard queues input while the agent is busy; with none waiting, queue a sample as one would.
  if ((await session.listQueue({ status: 'pending' })).batches.length === 0) {
    await client.enqueue(id, { items: [{ text: 'What does session-sync do?' }] });
    console.log('nothing queued: queued a sample input');
  }
  const claim = await session.claimQueue({ max_batches: 10, ttl_ms: 60_000 });
  for (const input of claim?.batches.flatMap((batch) => batch.items) ?? []) {
    signal.throwIfAborted();
    await session.setActivity({ status: 'thinking', ttl_ms: 30_000 });
    // The reply's tokens go out as live events as they are produced, in one NDJSON request.
    const tokens: string[] = [];
    const live = await session.publishLive(
      (async function* () {
        for await (const token of fakeModel(input)) {
          signal.throwIfAborted();
          tokens.push(token);
          yield { type: 'token', data: { text: token } };
        }
      })(),
    );
    console.log(`streamed ${live.accepted} tokens`);
    // The finished turn becomes durable state: one JSON Patch against the version we hold.
    const turn = { input, reply: tokens.join('') };
    ({ version } = await session.pushDelta({ base_version: version, patch: [{ op: 'add', path: '/turns/-', value: turn }] }));
    state = { turns: [...state.turns, turn] };
    console.log(`turn stored: version ${version}, reply "${turn.reply}"`);
  }
  if (claim) await session.completeClaim(claim.claim_id);
  await session.setActivity({ status: 'idle' });
} finally {
  await lease.release();
  console.log('lease released');
}

/** The state as this worker holds it: created on first use, else read (the server materialises JSON state). */
async function load(s: LeasedSession): Promise<{ version: number; state: Conversation }> {
  const answer = await s.sync();
  if (answer.mode === 'new') {
    const created = await s.putSnapshot({ base_version: 0, schema_version: 1, snapshot: { turns: [] } });
    return { version: created.version, state: { turns: [] } };
  }
  return { version: answer.version, state: answer.snapshot as Conversation };
}

/** Stands in for a model: a reply, a few characters at a time. */
async function* fakeModel(input: unknown): AsyncGenerator<string> {
  const text = `You said ${JSON.stringify(input)}. session-sync keeps this turn durable and live.`;
  for (let i = 0; i < text.length; i += 8) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    yield text.slice(i, i + 8);
  }
}
