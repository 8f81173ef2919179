import { describe, expect, it } from 'vitest';
import { call, createSession, type TestApp } from '../helpers/app.js';
import { append, listeningApp, open, waitForMarker } from '../helpers/streams.js';
import { until } from '../helpers/waits.js';

// Live publishes from many sessions at once (workers streaming tokens side by
// side): each is answered for its own session, after its own head, whatever
// else is being published at the same moment.
let t: TestApp;
listeningApp((app) => (t = app));

describe('live publishes at the same moment', () => {
  it('many sessions publishing at once are each answered 202 after their own head; none is 404 or left waiting', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `live-heads-many-${i}`);
    const heads = new Map<string, number>();
    for (const [i, id] of ids.entries()) {
      await createSession(t, id);
      heads.set(id, i === 0 ? 0 : (await append(t, id, Array.from({ length: i }, (_, n) => ({ type: 'durable', data: n })))).last_seq);
    }
    const streams = await Promise.all(ids.map((id) => open(t, `/v1/sessions/${id}/stream`)));
    try {
      await Promise.all(streams.map(waitForMarker));
      // Several rounds, every session in each, all in flight together: a publish arrives while another's head read runs.
      const rounds = 5;
      let answered = 0;
      const posts = Array.from({ length: rounds }, (_, round) => ids.map((id) => ({ id, round })))
        .flat()
        .map(async ({ id, round }) => {
          const res = await call(t.app, 'POST', `/v1/sessions/${id}/live`, { type: 'token', data: { id, round } });
          answered += 1;
          return { id, round, status: res.statusCode, body: res.json() };
        });
      await until(() => answered === posts.length, `all ${posts.length} publishes answered (${answered} were)`);
      const answers = await Promise.all(posts);
      for (const answer of answers) {
        expect([answer.id, answer.round, answer.status, answer.body]).toEqual([answer.id, answer.round, 202, { accepted: 1, after_seq: heads.get(answer.id) }]);
      }
      // Every stream gets its own session's events, all of them, and no other session's.
      for (const [i, stream] of streams.entries()) {
        await stream.waitFor(() => stream.ofType('token').length === rounds, `${rounds} tokens on ${ids[i]}`);
        expect(stream.ofType('token').map((m) => m.json.data.id)).toEqual(Array(rounds).fill(ids[i]));
      }
    } finally {
      await Promise.all(streams.map((s) => s.close()));
    }
  });
});
