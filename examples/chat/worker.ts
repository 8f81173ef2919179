/**
 * The chat example's worker: it answers every input queued on this agent's
 * sessions (`metadata.agent` = AGENT), one turn per input, and runs until
 * stopped (Ctrl-C).
 *
 *   SESSION_SYNC_URL=http://127.0.0.1:8080 npx tsx examples/chat/worker.ts
 *
 * For each input it claims the session's lease (one writer at a time), takes
 * the input from the queue, says what the agent is doing (activity), streams
 * the reply's tokens as live events, and commits the turn: both messages, the
 * new state, the usage and the queue claim, all or nothing. The model is a
 * scripted fake (model.ts): that is where a real one plugs in.
 */
import { CHANGE_EVENT, createClient, type Lease, PROBLEM, type QueueClaim, SessionSyncError } from '@session-sync/client';
import { AGENT, type ChatState, inputText } from './agent.js';
import { countTokens, FAKE_MODEL, fakeReply, fakeToolCall, type ModelMessage, type ToolCall } from './model.js';

const client = createClient({
  baseUrl: process.env.SESSION_SYNC_URL ?? 'http://127.0.0.1:8080',
  token: process.env.SESSION_SYNC_TOKEN,
});
const owner = `chat-worker-${process.pid}`;
/** A worker that dies mid-turn stops looking busy after this long. */
const ACTIVITY_TTL_MS = 30_000;

// One pass over a session at a time; a hint that comes during a pass makes one more pass after it.
const passes = new Map<string, Promise<void>>();
const again = new Set<string>();
let stopping = false;

function wake(id: string): void {
  if (stopping) return;
  if (passes.has(id)) {
    again.add(id);
    return;
  }
  const pass = serve(id)
    .catch((error: unknown) => console.error(`${id}: ${error instanceof Error ? error.message : String(error)}`))
    .finally(() => {
      passes.delete(id);
      if (again.delete(id)) wake(id);
    });
  passes.set(id, pass);
}

// Every write to a session moves its head, and the changes feed says so: that is the worker's doorbell.
const feed = client.watchChanges({
  onSweepRequired: async () => {
    // Each (re)connection starts here: hints may have been missed, so look at every session of this agent.
    try {
      let cursor: string | undefined;
      do {
        const page = await client.listSessions({ limit: 100, ...(cursor ? { cursor } : {}) });
        for (const session of page.sessions) if (session.metadata?.agent === AGENT) wake(session.id);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    } catch (error) {
      console.error(`listing sessions: ${error instanceof Error ? error.message : String(error)}`);
    }
  },
  onChange: (change) => {
    if (change.type === CHANGE_EVENT.changed) wake(change.session_id);
  },
  onError: (error) => {
    console.error(`changes feed ended: ${error.detail}`);
    process.exitCode = 1;
  },
});
console.log(`worker ${owner} answering sessions of agent "${AGENT}" on ${process.env.SESSION_SYNC_URL ?? 'http://127.0.0.1:8080'}`);

/** Answers what is queued on session `id`, if it is this agent's and no other worker is at it. */
async function serve(id: string): Promise<void> {
  // Looking writes nothing: the worker's own writes below wake it again, and this pass then ends here.
  if ((await client.listQueue(id, { status: 'pending', limit: 1 })).batches.length === 0) return;
  const record = await client.getSession(id);
  if (record.metadata?.agent !== AGENT || record.lease) return;
  let lease: Lease;
  try {
    lease = await client.claimLease(id, { owner, ttlMs: 15_000 });
  } catch (error) {
    // Another worker got there first: it answers everything queued before it lets go.
    if (error instanceof SessionSyncError && error.code === PROBLEM.leaseHeld) return;
    throw error;
  }
  try {
    for (;;) {
      if (stopping) break;
      const claim = await lease.session.claimQueue({ max_batches: 1, ttl_ms: 60_000 });
      if (!claim) break;
      await answer(lease, claim);
    }
  } finally {
    // A turn that failed leaves its claim to die with this lease: the server puts the input back in the queue.
    await lease.release();
  }
}

/** One turn: the model asks for a tool, the tool runs, the model streams its reply; then it all commits. */
async function answer(lease: Lease, claim: QueueClaim): Promise<void> {
  const { session, signal } = lease;
  const activity = (status: string, detail?: string) => session.setActivity({ status, ...(detail ? { detail } : {}), ttl_ms: ACTIVITY_TTL_MS });
  const prompt = inputText(claim.batches.flatMap((batch) => batch.items));

  await activity('thinking');
  // What the agent knows: its state (made by its first turn) and the conversation so far.
  const synced = await session.sync();
  const state: ChatState = 'snapshot' in synced ? (synced.snapshot as ChatState) : { turns: 0, words_heard: 0, last_tool: null };
  const earlier = (await session.listMessages({ order: 'desc', limit: 50 })).messages.reverse();
  const conversation: ModelMessage[] = [
    ...earlier.flatMap((m) => ((m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string' ? [{ role: m.role, content: m.content }] : [])),
    { role: 'user', content: prompt },
  ];
  const call = await fakeToolCall(conversation, signal);

  await activity('tool', call.name);
  const tool = { ...call, output: await TOOLS[call.name](call.input) };

  await activity('writing');
  // The tokens go out as live events as the model makes them, in one streamed request: every open page sees them.
  const tokens: string[] = [];
  await session.publishLive(
    (async function* () {
      for await (const token of fakeReply(conversation, tool, signal)) {
        tokens.push(token);
        yield { type: 'token', data: { text: token } };
      }
    })(),
  );
  const reply = tokens.join('');

  const next: ChatState = { turns: state.turns + 1, words_heard: state.words_heard + tool.output, last_tool: tool };
  const turn = await session.commitTurn({
    // Named after the input it answers, so that input is never answered twice.
    turn_id: `reply-${claim.batches[0]?.batch_id}`,
    base_version: synced.version,
    state: synced.version === 0 ? { snapshot: next, schema_version: 1 } : { merge_patch: next },
    messages: [
      { role: 'user', content: prompt },
      { role: 'assistant', content: reply },
    ],
    usage: [{ model: FAKE_MODEL, input_tokens: countTokens(conversation), output_tokens: tokens.length, cost_usd: 0 }],
    complete_claims: [claim.claim_id],
  });
  await session.setActivity({ status: 'idle' });
  console.log(`${session.id}: answered turn ${next.turns} (${tokens.length} tokens), state version ${turn.version}`);
}

/** The agent's tools, by the name the model calls them. */
const TOOLS: Record<ToolCall['name'], (input: string) => Promise<number>> = {
  // Slow enough to see in the activity, as a real tool call would be.
  word_count: async (text) => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    return text.split(/\s+/).filter(Boolean).length;
  },
};

let signals = 0;
const stop = async () => {
  // A second Ctrl-C does not wait for the turns in flight.
  if (++signals > 1) process.exit(1);
  stopping = true;
  feed.close();
  await Promise.allSettled([...passes.values()]);
  process.exit();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
