import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, LIVE_TEXT_MAX_CHARS, type SessionSnapshot, type SessionStore } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { Gate } from '../helpers/gate.js';
import { unlessStuck, until } from '../helpers/waits.js';

// client.watchSession and client.watchSessions against the real server: the rules of their
// snapshots that the React bindings' browser tests (test/react) do not reach.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

const fast = { attempts: 1, baseDelayMs: 5, maxDelayMs: 20 };

/** Waits for the store's snapshot to satisfy `done`, naming `what` and the last snapshot when it never does. */
async function untilShown(store: SessionStore, done: (s: SessionSnapshot) => boolean, what: string): Promise<SessionSnapshot> {
  await until(() => done(store.getSnapshot()), `${what}: ${JSON.stringify(store.getSnapshot()).slice(0, 1500)}`);
  return store.getSnapshot();
}

describe('watchSession', () => {
  it('replays the newest keepEvents events, keeps no more, and a record read that fails is read again until it answers', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    const id = 'ws-record';
    await writer.createSession({ id });
    for (let n = 1; n <= 6; n++) await writer.appendEvents(id, { events: [{ type: 'note', data: { n } }] });
    // Record reads (GET /v1/sessions/{id}) fail while `failing` is on, with no retry of the call's own: the store's retry is what is left.
    let failing = false;
    let failed = 0;
    const store = createClient({
      baseUrl: t.baseUrl,
      retry: fast,
      fetch: (input, init) => {
        if (failing && new URL(String(input)).pathname === `/v1/sessions/${id}`) {
          failed += 1;
          return Promise.reject(new TypeError('fetch failed'));
        }
        return fetch(input, init);
      },
    }).watchSession(id, { keepEvents: 3 });
    try {
      const ready = await store.ready;
      expect(ready.events.map((e) => (e.data as { n: number }).n)).toEqual([4, 5, 6]);
      expect(ready.session).toMatchObject({ id, last_seq: 6 });
      failing = true;
      await writer.appendEvents(id, { events: [{ type: 'note', data: { n: 7 } }] });
      await untilShown(store, (s) => s.lastSeq === 7 && failed >= 1, 'the event, and a record read failing');
      expect(store.getSnapshot().session?.last_seq).toBe(6);
      failing = false;
      const shown = await untilShown(store, (s) => s.session?.last_seq === 7, 'the record read again');
      expect(shown.events.map((e) => (e.data as { n: number }).n)).toEqual([5, 6, 7]);
      expect(shown.status).toBe('live');
    } finally {
      store.close();
    }
  });

  it('joins token fragments (string or {text}) of tokenType, ends the text when the activity turns idle, and keeps other live events apart', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    const id = 'ws-text';
    await writer.createSession({ id });
    const store = createClient({ baseUrl: t.baseUrl }).watchSession(id, { tokenType: 'delta', keepLive: 2 });
    try {
      await store.ready;
      await writer.setActivity(id, { status: 'writing' });
      await untilShown(store, (s) => s.activity?.status === 'writing', 'the activity');
      await writer.publishLive(id, [
        { type: 'delta', data: 'one ' },
        { type: 'delta', data: { text: 'two' } },
        { type: 'delta', data: { other: 'not text' } },
        { type: 'token', data: 'not this type' },
        { type: 'progress', data: 1 },
        { type: 'progress', data: 2 },
      ]);
      const during = await untilShown(store, (s) => s.liveEvents.length === 2 && s.liveEvents.at(-1)?.data === 2, 'the live events');
      expect(during.liveText).toBe('one two');
      // The newest keepLive (2) of the events that are not tokens.
      expect(during.liveEvents).toEqual([
        { type: 'progress', data: 1 },
        { type: 'progress', data: 2 },
      ]);
      // An event type not in liveTextEndsOn leaves the text as it is.
      await writer.appendEvents(id, { events: [{ type: 'tool_call', data: {} }] });
      await untilShown(store, (s) => s.events.at(-1)?.type === 'tool_call', 'the event');
      expect(store.getSnapshot().liveText).toBe('one two');
      await writer.setActivity(id, { status: 'idle' });
      const idle = await untilShown(store, (s) => s.activity?.status === 'idle', 'the activity idle');
      expect(idle.liveText).toBe('');
    } finally {
      store.close();
    }
  });

  /** A new session's store once `fragments`, published as tokens after it went live, show as `done` says. */
  async function shownAfterTokens(id: string, fragments: string[], done: (s: SessionSnapshot) => boolean, what: string): Promise<SessionSnapshot> {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id });
    const store = createClient({ baseUrl: t.baseUrl }).watchSession(id);
    try {
      await store.ready;
      await writer.publishLive(id, fragments.map((data) => ({ type: 'token', data })));
      return await untilShown(store, done, what);
    } finally {
      store.close();
    }
  }

  it('keeps at most LIVE_TEXT_MAX_CHARS of running text, the newest (the tail)', async () => {
    // 16 fragments of 6,500 characters (a live event holds under 7,000 bytes): 104,000 in all, each fragment its own digit.
    const fragments = Array.from({ length: 16 }, (_, n) => `${n % 10}`.repeat(6500));
    const shown = await shownAfterTokens('ws-text-cap', fragments, (s) => s.liveText.length === LIVE_TEXT_MAX_CHARS, 'the running text at its cap');
    // The text as runs of one digit (a failure prints 16 pairs, not 100,000 characters): the last 2,500 of the first fragment, then the 15 others whole.
    const runs = (text: string) => Array.from(text.matchAll(/(\d)\1*/g), ([run]) => `${run[0]}x${run.length}`);
    expect(runs(shown.liveText)).toEqual(runs(fragments.join('').slice(-LIVE_TEXT_MAX_CHARS)));
    expect(runs(shown.liveText)[0]).toBe('0x2500');
  });

  it('never starts its running text inside a character the cap cuts', async () => {
    // 32 fragments of 1,600 emoji (2 UTF-16 units, 4 bytes each), then one letter: the last 100,000 units begin on an emoji's second half.
    const fragments = [...Array.from({ length: 32 }, () => '\u{1F600}'.repeat(1600)), 'b'];
    const shown = await shownAfterTokens('ws-text-cap-surrogates', fragments, (s) => s.liveText.endsWith('b'), 'the last fragment shown');
    expect(shown.liveText.length).toBe(LIVE_TEXT_MAX_CHARS - 1);
    expect(shown.liveText.codePointAt(0)).toBe(0x1f600);
    expect(shown.liveText).toBe(fragments.join('').slice(-(LIVE_TEXT_MAX_CHARS - 1)));
  });

  it('closes with the refusal when the session does not exist', async () => {
    const store = createClient({ baseUrl: t.baseUrl }).watchSession('ws-missing');
    await expect(store.ready).rejects.toMatchObject({ status: 404, code: 'session_not_found' });
    expect(store.getSnapshot()).toMatchObject({ status: 'closed', error: { code: 'session_not_found' } });
  });
});

describe('watchSessions', () => {
  it('lists the children of parentId only, and a child created later comes first', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'wl-parent' });
    await writer.createSession({ id: 'wl-child-1', parent_id: 'wl-parent' });
    const store = createClient({ baseUrl: t.baseUrl }).watchSessions({ parentId: 'wl-parent', limit: 10 });
    try {
      expect((await store.ready).sessions.map((s) => s.id)).toEqual(['wl-child-1']);
      await writer.createSession({ id: 'wl-other' });
      await writer.createSession({ id: 'wl-child-2', parent_id: 'wl-parent' });
      await until(() => store.getSnapshot().sessions.length === 2, 'the second child');
      expect(store.getSnapshot().sessions.map((s) => s.id)).toEqual(['wl-child-2', 'wl-child-1']);
    } finally {
      store.close();
    }
  });

  it('a created session whose record read answers after its deletion was seen never comes back', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'wl-del-parent' });
    await writer.createSession({ id: 'wl-del-marker', parent_id: 'wl-del-parent' });
    // The store's read of wl-del-late reaches the server (which answers 200: the session is there), and its answer is held here.
    const gate = new Gate<string>();
    const held = gate.hold((path) => path === '/v1/sessions/wl-del-late');
    const store = createClient({
      baseUrl: t.baseUrl,
      fetch: async (input, init) => {
        const path = new URL(String(input)).pathname;
        const response = await fetch(input, init);
        if ((init?.method ?? 'GET') !== 'GET' || path !== '/v1/sessions/wl-del-late') return response;
        const body = await response.text();
        await gate.pass(path);
        return new Response(body, { status: response.status, headers: response.headers });
      },
    }).watchSessions({ parentId: 'wl-del-parent', limit: 10 });
    try {
      expect((await store.ready).sessions.map((s) => s.id)).toEqual(['wl-del-marker']);
      await writer.createSession({ id: 'wl-del-late', parent_id: 'wl-del-parent' });
      await unlessStuck(held.reached, 'the record read of the created session');
      await writer.deleteSession('wl-del-late');
      // The feed's hints come in order: once the marker's deletion shows, wl-del-late's has been taken in.
      await writer.deleteSession('wl-del-marker');
      await until(() => store.getSnapshot().sessions.length === 0, 'the marker gone');
      held.release();
      // A session created after the release is read and shown after the held answer was taken in.
      await writer.createSession({ id: 'wl-del-after', parent_id: 'wl-del-parent' });
      await until(() => store.getSnapshot().sessions.some((s) => s.id === 'wl-del-after'), 'the session created after');
      expect(store.getSnapshot().sessions.map((s) => s.id)).toEqual(['wl-del-after']);
    } finally {
      store.close();
    }
  });

  it('keeps at most limit sessions: a session created while it is open comes first and the oldest shown goes', async () => {
    const writer = createClient({ baseUrl: t.baseUrl });
    await writer.createSession({ id: 'wl-cap-parent' });
    for (const n of [1, 2, 3]) await writer.createSession({ id: `wl-cap-${n}`, parent_id: 'wl-cap-parent' });
    const store = createClient({ baseUrl: t.baseUrl }).watchSessions({ parentId: 'wl-cap-parent', limit: 2 });
    try {
      expect((await store.ready).sessions.map((s) => s.id)).toEqual(['wl-cap-3', 'wl-cap-2']);
      await writer.createSession({ id: 'wl-cap-4', parent_id: 'wl-cap-parent' });
      await until(() => store.getSnapshot().sessions[0]?.id === 'wl-cap-4', 'the created session first');
      expect(store.getSnapshot().sessions.map((s) => s.id)).toEqual(['wl-cap-4', 'wl-cap-3']);
    } finally {
      store.close();
    }
  });
});
