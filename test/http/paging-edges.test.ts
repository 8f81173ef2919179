import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** Follows next_cursor from `first`; returns every item and how many pages it took. */
async function walk(first: string, key: string, itemKey: string): Promise<{ items: unknown[]; pages: number }> {
  const items: unknown[] = [];
  let pages = 0;
  for (let cursor: string | null = null; pages < 20; ) {
    const page: any = (await call(t.app, 'GET', cursor === null ? first : `${first}&cursor=${encodeURIComponent(cursor)}`)).json();
    pages++;
    items.push(...page[key].map((item: Record<string, unknown>) => item[itemKey]));
    cursor = page.next_cursor;
    if (cursor === null) break;
  }
  return { items, pages };
}

// A list whose length is a multiple of the page size: the last page is full, and it is the last one.
describe('the last page of a list is full and says so with next_cursor null', () => {
  it('messages, ascending and descending', async () => {
    const id = 'paging-messages';
    await call(t.app, 'POST', '/v1/sessions', { id });
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [1, 2, 3, 4].map((n) => ({ role: 'user', content: `m${n}` })) });
    expect(await walk(`/v1/sessions/${id}/messages?limit=2`, 'messages', 'seq')).toEqual({ items: [1, 2, 3, 4], pages: 2 });
    expect(await walk(`/v1/sessions/${id}/messages?limit=2&order=desc`, 'messages', 'seq')).toEqual({ items: [4, 3, 2, 1], pages: 2 });
    expect(await walk(`/v1/sessions/${id}/messages?limit=4`, 'messages', 'seq')).toEqual({ items: [1, 2, 3, 4], pages: 1 });
  });

  it('sessions, newest first', async () => {
    const parent = 'paging-parent';
    await call(t.app, 'POST', '/v1/sessions', { id: parent });
    const children = ['paging-c1', 'paging-c2', 'paging-c3', 'paging-c4'];
    for (const id of children) expect((await call(t.app, 'POST', '/v1/sessions', { id, parent_id: parent })).statusCode).toBe(201);
    const newestFirst = [...children].reverse();
    expect(await walk(`/v1/sessions?parent_id=${parent}&limit=2`, 'sessions', 'id')).toEqual({ items: newestFirst, pages: 2 });
    expect(await walk(`/v1/sessions?parent_id=${parent}&limit=4`, 'sessions', 'id')).toEqual({ items: newestFirst, pages: 1 });
  });
});

// A cursor is opaque but not interchangeable: one listing's next_cursor means a position in that listing only.
describe('a cursor from one listing is refused by every other', () => {
  it('sessions, messages (either order), attachments and queue cursors: 400 naming cursor, never a page from a wrong position', async () => {
    const id = 'paging-cursors';
    const other = 'paging-cursors-2';
    for (const session of [id, other]) expect((await call(t.app, 'POST', '/v1/sessions', { id: session })).statusCode).toBe(201);
    await call(t.app, 'POST', `/v1/sessions/${id}/messages`, { messages: [1, 2].map((n) => ({ role: 'user', content: `m${n}` })) });
    for (const bytes of ['a', 'b']) {
      const res = await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, payload: bytes, headers: { 'content-type': 'text/plain' } });
      expect(res.statusCode).toBe(201);
    }
    for (const n of [1, 2]) expect((await call(t.app, 'POST', `/v1/sessions/${id}/queue`, { items: [{ n }] })).statusCode).toBe(201);
    const listings: Record<string, string> = {
      sessions: '/v1/sessions?limit=1',
      'messages, ascending': `/v1/sessions/${id}/messages?limit=1`,
      'messages, descending': `/v1/sessions/${id}/messages?limit=1&order=desc`,
      attachments: `/v1/sessions/${id}/attachments?limit=1`,
      queue: `/v1/sessions/${id}/queue?limit=1`,
    };
    const cursors: Record<string, string> = {};
    for (const [name, url] of Object.entries(listings)) {
      const page = await call(t.app, 'GET', url);
      expect(page.statusCode, `${name}: ${page.body}`).toBe(200);
      const cursor = page.json().next_cursor;
      expect(typeof cursor, `${name} has a second page`).toBe('string');
      cursors[name] = cursor;
      // Its own listing takes it back.
      expect((await call(t.app, 'GET', `${url}&cursor=${encodeURIComponent(cursor)}`)).statusCode, name).toBe(200);
    }
    for (const [from, cursor] of Object.entries(cursors)) {
      for (const [to, url] of Object.entries(listings)) {
        if (to === from) continue;
        const res = await call(t.app, 'GET', `${url}&cursor=${encodeURIComponent(cursor)}`);
        const problem = expectProblem(res, 400, 'invalid_request');
        expect(problem.errors, `${from} -> ${to}`).toEqual([{ in: 'querystring', field: '/cursor', message: 'is not a valid cursor' }]);
      }
    }
  });
});
