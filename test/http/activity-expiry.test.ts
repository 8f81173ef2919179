import { describe, expect, it } from 'vitest';
import { announceExpiredActivities } from '../../src/activity/statements.js';
import { call, type TestApp } from '../helpers/app.js';
import type { SseClient } from '../helpers/sse.js';
import { getSession, listeningApp, markers, open, sessionWithEvents, waitForMarker } from '../helpers/streams.js';

let t: TestApp;
listeningApp((app) => (t = app));

const expiredMarkers = (client: SseClient) => markers(client).filter((m) => m.json.expired === true);
const setActivity = async (id: string, body: unknown) => {
  const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, body);
  expect(res.statusCode, res.body).toBe(200);
};

describe('the activity TTL sweep', () => {
  it('announces what is due, once; what is not due, or has no TTL, stays; a new activity after an expiry can expire again', async () => {
    const ids = { due: 'act-ttl-due', later: 'act-ttl-later', none: 'act-ttl-none' };
    const streams: Record<string, SseClient> = {};
    for (const id of Object.values(ids)) {
      await sessionWithEvents(t, id, 0);
      streams[id] = await open(t, `/v1/sessions/${id}/stream`);
    }
    try {
      for (const client of Object.values(streams)) await waitForMarker(client);
      await setActivity(ids.later, { status: 'long', ttl_ms: 86_400_000 });
      await setActivity(ids.none, { status: 'forever' });
      await setActivity(ids.due, { status: 'short', ttl_ms: 200 });

      const due = streams[ids.due]!;
      await due.waitFor(() => expiredMarkers(due).length === 1, 'the first expiry');
      // A sweep of our own after everything was set, then a write to each other session: its event is told after
      // any notice that sweep sent, so once a stream has it, an expiry it was wrongly told of has arrived too.
      await announceExpiredActivities(t.database.db);
      for (const id of [ids.later, ids.none]) {
        await call(t.app, 'POST', `/v1/sessions/${id}/events`, { events: [{ type: 'note', data: 'flush' }] });
        const client = streams[id]!;
        await client.waitFor(() => client.durable.length >= 1, `the flush event of ${id}`);
        expect(expiredMarkers(client), id).toEqual([]);
      }
      expect((await getSession(t, ids.later)).activity).toMatchObject({ status: 'long' });
      expect((await getSession(t, ids.later)).activity.expired).toBeUndefined();
      expect((await getSession(t, ids.none)).activity).toMatchObject({ status: 'forever' });
      expect((await getSession(t, ids.due)).activity).toMatchObject({ status: 'idle', expired: true });
      expect(expiredMarkers(due).length).toBe(1);

      // Set again with a TTL, the session's activity expires again and is announced again.
      await setActivity(ids.due, { status: 'again', ttl_ms: 200 });
      await due.waitFor(() => expiredMarkers(due).length === 2, 'the second expiry');
    } finally {
      for (const client of Object.values(streams)) await client.close();
    }
  });

  it('a fleet of activities due together is told to every stream within a second or so, not one a sweep at a time', async () => {
    const ids = Array.from({ length: 16 }, (_, i) => `act-ttl-fleet-${i}`);
    const streams: SseClient[] = [];
    try {
      for (const id of ids) {
        await sessionWithEvents(t, id, 0);
        streams.push(await open(t, `/v1/sessions/${id}/stream`));
      }
      for (const client of streams) await waitForMarker(client);
      // A fleet of workers gone together: their activities all run out within the same moment.
      const answers = await Promise.all(
        ids.map(async (id) => {
          const res = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'tool', ttl_ms: 1_500 });
          expect(res.statusCode, res.body).toBe(200);
          return res.json();
        }),
      );
      const lastDue = Math.max(...answers.map((a) => Date.parse(a.expires_at)));
      // docs/API.md: streams are told within a second or so of the TTL; 5 s leaves room for a loaded machine (one expiry a sweep would take about 8 s for these 16).
      const deadline = lastDue + 5_000;
      for (const [i, client] of streams.entries()) {
        await client.waitFor(() => expiredMarkers(client).length === 1, `the expiry of ${ids[i]}`, Math.max(deadline - Date.now(), 1));
      }
    } finally {
      for (const client of streams) await client.close();
    }
  });
});
