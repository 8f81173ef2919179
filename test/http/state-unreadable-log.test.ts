import type { FastifyInstance } from 'fastify';
import { expect, it } from 'vitest';
import { call, createSession, createTestApp, expectProblem, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';

/**
 * A writer app, and a second instance on the same database whose warnings are
 * kept. The second has cached nothing, so its reads rebuild from the rows the
 * test damaged.
 */
async function withLoggedReader(test: (writer: TestApp, reader: FastifyInstance, lines: string[]) => Promise<void>): Promise<void> {
  const writer = await createTestApp();
  const log = logSink('warn');
  const reader = await createTestApp({ databaseUrl: writer.url, log });
  try {
    await test(writer, reader.app, log.lines);
  } finally {
    await reader.close();
    await writer.close();
  }
}

it('a stored chain that no longer rebuilds is logged as a warning with the error, for the operator to repair', async () => {
  await withLoggedReader(async (writer, reader, lines) => {
    const id = await createSession(writer, 'unreadable');
    expect((await call(writer.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot: { n: 0 } })).statusCode).toBe(200);
    expect((await call(writer.app, 'POST', `/v1/sessions/${id}/deltas`, { base_version: 1, patch: [{ op: 'add', path: '/m', value: 1 }] })).statusCode).toBe(200);
    // What an older applier accepted and stored: a move of a member into its own child.
    await writer.database.db`
      update events set data = ${JSON.stringify({ patch: [{ op: 'move', from: '/n', path: '/n/x' }] })}::json
      where type = 'state.delta' and version = 2 and session_sid = (select sid from sessions where id = ${id})`;
    expectProblem(await call(reader, 'GET', `/v1/sessions/${id}/state`), 409, 'state_unreadable');
    const warnings = lines.map((line) => JSON.parse(line)).filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'stored json state cannot be rebuilt', err: { type: 'StateUnreadable' } });
    expect(warnings[0].err.message).toContain(id);
  });
});

it('a binary session whose stored snapshot is gone is a 500 whose log names the session and the version', async () => {
  await withLoggedReader(async (writer, reader, lines) => {
    const id = await createSession(writer, 'bytes-gone', { encoding: 'binary' });
    const put = await call(writer.app, 'PUT', `/v1/sessions/${id}/state`, { base_version: 0, schema_version: 1, snapshot_base64: 'AAEC' });
    expect(put.statusCode, put.body).toBe(200);
    await writer.database.db`delete from state_snapshots where session_sid = (select sid from sessions where id = ${id})`;
    expectProblem(await call(reader, 'GET', `/v1/sessions/${id}/state`), 500, 'internal_error');
    const logged = lines.join('\n');
    expect(logged).toContain(`session ${id}: binary snapshot 1 is missing`);
  });
});
