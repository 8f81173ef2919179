import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendNotifications } from '../../src/db/statements.js';
import { WAKEUP_CHANNEL } from '../../src/wakeups/wakeups.js';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { append, open, sessionWithEvents } from '../helpers/streams.js';
import { until } from '../helpers/waits.js';

// The changes feed (GET /v1/changes): which sessions moved, as hints read from the rows.
let t: TestApp;
/** While set, the app's wakeup NOTIFYs wait here until the test lets them go. */
let held: (() => void)[] | undefined;

beforeAll(async () => {
  t = await createTestApp({
    sendWakeups: async (payloads) => {
      if (held) await new Promise<void>((resolve) => held!.push(resolve));
      await sendNotifications(t.database.db, WAKEUP_CHANNEL, payloads);
    },
  });
  await t.listen();
});
afterAll(async () => {
  await t?.close();
});

describe('GET /v1/changes', () => {
  it('sends sweep_required first, then session.created, coalesced session.changed hints, session.activity and session.deleted', async () => {
    const id = 'watched';
    const feed = await open(t, '/v1/changes');
    try {
      expect(feed.status).toBe(200);
      expect(feed.headers.get('content-type')).toMatch(/^text\/event-stream/);
      await feed.waitFor(() => feed.messages.length >= 1, 'the first message');
      expect(feed.messages[0]?.event).toBe('sweep_required');
      expect(feed.messages[0]?.id).toBeUndefined();

      await createSession(t, id);
      const mine = (event: string) => feed.ofType(event).filter((m) => m.json?.session_id === id);
      await feed.waitFor(() => mine('session.created').length === 1, 'session.created');
      expect(mine('session.created')[0]?.json).toEqual({ session_id: id });

      // 20 appends at once, while the wakeup flush before theirs is held: their wakeups wait for the same
      // flush (how many do otherwise is the machine's speed), and the feed gets one hint naming the head.
      await createSession(t, `${id}-other`);
      held = [];
      await append(t, `${id}-other`, [{ type: 'tick', data: 'held' }]);
      await until(() => held!.length === 1, "the other session's wakeup held");
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => append(t, id, [{ type: 'tick', data: i }])));
      expect(Math.max(...answers.map((a) => a.last_seq))).toBe(20);
      for (const resolve of held.splice(0)) resolve();
      held = undefined;
      await feed.waitFor(() => mine('session.changed').some((m) => m.json.last_seq === 20), 'a hint with last_seq 20');
      expect(mine('session.changed').map((m) => m.json)).toEqual([{ session_id: id, last_seq: 20, version: 0 }]);
      expect(mine('session.changed').every((m) => m.id === undefined)).toBe(true);

      // A state write is a change too, and the hint carries the state version.
      const put = await call(t.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: {} });
      expect(put.json()).toEqual({ version: 1, seq: 21 });
      await feed.waitFor(() => mine('session.changed').some((m) => m.json.last_seq === 21), 'the hint for the state write');
      expect(mine('session.changed').find((m) => m.json.last_seq === 21)?.json).toEqual({ session_id: id, last_seq: 21, version: 1 });

      const activity = await call(t.app, 'PUT', `/v1/sessions/${id}/activity`, { status: 'thinking', detail: { tool: 'x' } });
      expect(activity.statusCode, activity.body).toBe(200);
      await feed.waitFor(() => mine('session.activity').length === 1, 'session.activity');
      expect(mine('session.activity')[0]?.json).toMatchObject({ session_id: id, status: 'thinking', detail: { tool: 'x' } });

      expect((await call(t.app, 'DELETE', `/v1/sessions/${id}`)).statusCode).toBe(204);
      await feed.waitFor(() => mine('session.deleted').length === 1, 'session.deleted');
      expect(mine('session.deleted')[0]?.json).toEqual({ session_id: id });
      // The feed serves many sessions: it stays open after one is deleted.
      expect(feed.ended).toBe(false);
      expect(feed.ofType('sweep_required')).toHaveLength(1);
    } finally {
      await feed.close();
    }
  });

  it('is live-only: a new feed does not replay earlier changes', async () => {
    // A probe feed sees the earlier changes go out, so they are all sent before the new feed opens.
    const probe = await open(t, '/v1/changes');
    try {
      await probe.waitFor(() => probe.messages.length >= 1, 'sweep_required on the probe');
      await sessionWithEvents(t, 'before-feed', 3);
      await probe.waitFor(
        () =>
          probe.ofType('session.created').some((m) => m.json.session_id === 'before-feed') &&
          probe.ofType('session.changed').some((m) => m.json.session_id === 'before-feed' && m.json.last_seq === 3),
        'the earlier changes on the probe',
      );
    } finally {
      await probe.close();
    }
    const feed = await open(t, '/v1/changes');
    try {
      await feed.waitFor(() => feed.messages.length >= 1, 'sweep_required');
      await createSession(t, 'after-feed');
      await feed.waitFor(
        () => feed.ofType('session.created').some((m) => m.json.session_id === 'after-feed'),
        'session.created for after-feed',
      );
      expect(feed.messages.filter((m) => m.json?.session_id === 'before-feed')).toEqual([]);
      expect(feed.messages[0]?.event).toBe('sweep_required');
    } finally {
      await feed.close();
    }
  });
});
