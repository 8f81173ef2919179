import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, InvalidRequest } from '../../src/errors.js';
import { toApiError } from '../../src/http/error-handler.js';
import { createTestDatabase, silentHost } from '../helpers/db.js';
import { unlessStuck, until } from '../helpers/waits.js';

/**
 * What a client is answered when Postgres itself refuses what it sent: the
 * body checks (src/http/json-body.ts) refuse these first on every route
 * today, so this is the answer of the next route or import path that lets
 * one through: a 400 that says what could not be stored, never a 500 that
 * says the server failed. The errors are Postgres's own, from a real server.
 */
let url: string;
let sql: postgres.Sql;

beforeAll(async () => {
  url = await createTestDatabase();
  sql = postgres(url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
});

/** The error Postgres answers `query` with. */
async function refusalOf(query: Promise<unknown>): Promise<Error> {
  try {
    await query;
  } catch (error) {
    return error as Error;
  }
  throw new Error('Postgres accepted it');
}

/** The problem a client would get for `error`. */
function answer(error: Error): { status: number; code: string; detail: string } {
  const problem = toApiError(error);
  return { status: problem.status, code: problem.code, detail: problem.message };
}

/** `error` (Postgres's `sqlstate`) is what a client retries: 503 database_unavailable, after a second. */
function expectRetriedUnavailable(error: Error, sqlstate: string): void {
  expect((error as Error & { code?: string }).code).toBe(sqlstate);
  const problem = toApiError(error);
  expect(problem, sqlstate).toMatchObject({ status: 503, code: 'database_unavailable' });
  expect(problem.headers, sqlstate).toEqual({ 'retry-after': '1' });
}

describe("Postgres's refusals of a value are the client's 400, in words", () => {
  it('U+0000 in JSON (untranslatable character)', async () => {
    const error = await refusalOf(sql`select ${'{"a":"\\u0000"}'}::text::jsonb`);
    expect(answer(error)).toEqual({
      status: 400,
      code: 'invalid_request',
      detail: expect.stringMatching(/^a string cannot be stored: unsupported Unicode escape sequence \(\\u0000 and lone surrogates are not allowed\)$/),
    });
  });

  it('bytes that are not UTF-8 (character not in repertoire)', async () => {
    const error = await refusalOf(sql`select convert_from(${Buffer.from([0x61, 0xff])}, 'UTF8')`);
    expect(answer(error)).toEqual({
      status: 400,
      code: 'invalid_request',
      detail: expect.stringMatching(/^a string cannot be stored: invalid byte sequence for encoding "UTF8": 0xff \(\\u0000 and lone surrogates are not allowed\)$/),
    });
  });

  it('JSON nested past what Postgres can parse (statement too complex)', async () => {
    const error = await refusalOf(sql`select ${'['.repeat(500_000)}::text::jsonb`);
    expect(answer(error)).toEqual({ status: 400, code: 'invalid_request', detail: 'JSON is nested too deeply to store' });
  });

  it('a number out of range, and text that is no number', async () => {
    const outOfRange = await refusalOf(sql`select ${'2147483648'}::int4`);
    expect(answer(outOfRange)).toEqual({ status: 400, code: 'invalid_request', detail: 'a value cannot be stored: value "2147483648" is out of range for type integer' });
    const notANumber = await refusalOf(sql`select ${'seven'}::int4`);
    expect(answer(notANumber)).toEqual({ status: 400, code: 'invalid_request', detail: 'a value cannot be stored: invalid input syntax for type integer: "seven"' });
  });

  it('the same when the driver error comes wrapped (as the cause of another)', async () => {
    const error = await refusalOf(sql`select ${'seven'}::int4`);
    expect(answer(new Error('the write failed', { cause: error }))).toEqual(answer(error));
  });
});

describe('what is not the client’s fault stays a 5xx', () => {
  it('a statement Postgres cannot run for other reasons is a 500 that tells nothing of the query', async () => {
    const error = await refusalOf(sql`select 1 / ${0}::int`);
    expect(answer(error)).toEqual({ status: 500, code: 'internal_error', detail: 'the server failed to handle this request; it has been logged' });
  });

  it('a role at its connection limit (too many connections) is 503 database_unavailable, retried after a second', async () => {
    const role = `limited_${Date.now()}`;
    await sql.unsafe(`create role ${role} login password 'limited' connection limit 0`);
    try {
      const target = new URL(url);
      target.username = role;
      target.password = 'limited';
      const limited = postgres(target.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        const error = await refusalOf(limited`select 1`);
        expectRetriedUnavailable(error, '53300');
      } finally {
        await limited.end({ timeout: 1 });
      }
    } finally {
      await sql.unsafe(`drop role ${role}`);
    }
  });

  it('a write refused by a read-only transaction (a standby during a failover) is 503 database_unavailable', async () => {
    const error = await refusalOf(sql.begin('read only', (tx) => tx`create temporary table t (n int)`));
    expect((error as Error & { code?: string }).code).toBe('25006');
    expect(answer(error)).toMatchObject({ status: 503, code: 'database_unavailable' });
  });

  it('a connection exception a server or pooler answers (SQLSTATE class 08) is 503 database_unavailable, retried after a second', () => {
    // PgBouncer answers 08P01 when a query waited too long for a server connection (query_wait_timeout) or the server
    // connection broke under it; Postgres's own class 08 is connection exceptions. Built as postgres.js builds an
    // ErrorResponse it receives.
    for (const code of ['08P01', '08006', '08001', '08004']) {
      const error = new postgres.PostgresError({ name: 'PostgresError', code, message: 'query_wait_timeout', severity: 'ERROR' } as never);
      expectRetriedUnavailable(error, code);
    }
  });

  it('a backend an administrator terminates (a restart, pg_terminate_backend: admin_shutdown) is 503 database_unavailable, retried after a second', async (context) => {
    // Postgres's own "terminating connection due to administrator command" (57P01), as the driver hands it over: a
    // backend terminated mid-statement reaches the caller as a lost connection, so this one is terminated while its
    // connection is being opened (held by a login event trigger, PostgreSQL 17 and later), where the driver passes
    // Postgres's error on.
    const [{ version }] = await sql<[{ version: number }]>`select current_setting('server_version_num')::int as version`;
    if (version < 170000) context.skip('login event triggers are PostgreSQL 17 and later');
    const applicationName = `terminated_${Date.now()}`;
    await sql.unsafe(`create function hold_login() returns event_trigger language plpgsql as $$
      begin if current_setting('application_name') = '${applicationName}' then perform pg_sleep(30); end if; end $$`);
    await sql.unsafe('create event trigger hold_login on login execute function hold_login()');
    const doomed = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 20, connection: { application_name: applicationName } });
    try {
      const killed = refusalOf(doomed`select 1`);
      let pid: number | undefined;
      await until(async () => {
        pid = (await sql<{ pid: number }[]>`select pid from pg_stat_activity where application_name = ${applicationName}`)[0]?.pid;
        return pid !== undefined;
      }, 'the connection to be held opening');
      await sql`select pg_terminate_backend(${pid!})`;
      const error = await unlessStuck(killed, "the terminated connection's failure");
      expectRetriedUnavailable(error, '57P01');
    } finally {
      await doomed.end({ timeout: 1 });
      await sql.unsafe('drop event trigger hold_login');
      await sql.unsafe('drop function hold_login()');
    }
  });

  it('a connection the server lost is 503 database_unavailable', async () => {
    const doomed = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await doomed<{ pid: number }[]>`select pg_backend_pid() as pid`;
      const pid = row!.pid;
      const killed = refusalOf(doomed`select pg_sleep(30)`);
      await sql`select pg_terminate_backend(${pid})`;
      expect(answer(await killed)).toMatchObject({ status: 503, code: 'database_unavailable' });
    } finally {
      await doomed.end({ timeout: 1 });
    }
  });

  it('a database host that takes the connection and never answers (past DB_CONNECT_TIMEOUT_S) is 503 database_unavailable, retried after a second', async () => {
    // A black-holed host (a dead machine behind a load balancer, a firewall that drops rather than refuses): the
    // driver gives up after its connect timeout, as main.ts sets it from DB_CONNECT_TIMEOUT_S.
    const silent = await silentHost(url);
    const unanswered = postgres(silent.url, { max: 1, onnotice: () => {}, connect_timeout: 1 });
    try {
      const error = await unlessStuck(refusalOf(unanswered`select 1`), 'the connect timeout');
      expectRetriedUnavailable(error, 'CONNECT_TIMEOUT');
    } finally {
      await unanswered.end({ timeout: 0 });
      await silent.close();
    }
  });

  it('a database host that refuses the connection (nothing listens there) is 503 database_unavailable, retried after a second', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const target = new URL(url);
    target.hostname = '127.0.0.1';
    target.port = String((closed.address() as net.AddressInfo).port);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = postgres(target.toString(), { max: 1, onnotice: () => {}, connect_timeout: 2 });
    try {
      expectRetriedUnavailable(await unlessStuck(refusalOf(refused`select 1`), 'the refused connection'), 'ECONNREFUSED');
    } finally {
      await refused.end({ timeout: 0 });
    }
  });
});

describe("fastify's own refusals", () => {
  const fastifyError = (code: string, statusCode: number, message: string) => Object.assign(new Error(message), { code, statusCode });

  it('a body past the limit names the limit when the route has one', () => {
    const tooLarge = fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413, 'Request body is too large');
    expect(toApiError(tooLarge, 1024)).toMatchObject({ status: 413, code: 'payload_too_large', message: 'request body is larger than 1024 bytes (MAX_BODY_BYTES)', extra: { limit_bytes: 1024 } });
    expect(toApiError(tooLarge)).toMatchObject({ status: 413, message: 'request body is larger than the configured limit (MAX_BODY_BYTES)', extra: {} });
  });

  it('a media type no route takes is 415 asking for JSON; a header that is no media type says so', () => {
    const unsupported = fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'Unsupported Media Type');
    expect(toApiError(unsupported, undefined, 'text/csv')).toMatchObject({ status: 415, message: 'send the body as application/json' });
    expect(toApiError(unsupported)).toMatchObject({ status: 415, message: 'send the body as application/json' });
    expect(toApiError(unsupported, undefined, 'json please')).toMatchObject({ status: 415, message: expect.stringMatching(/^Content-Type "json please" is not a media type/) });
  });

  it('any other 4xx keeps its message; a problem already made passes as it is', () => {
    expect(toApiError(fastifyError('FST_ERR_SOMETHING', 400, 'querystring is odd'))).toMatchObject({ status: 400, message: 'querystring is odd' });
    expect(toApiError(fastifyError('FST_ERR_SOMETHING', 499, 'client closed'))).toMatchObject({ status: 400, message: 'client closed' });
    expect(toApiError(fastifyError('FST_ERR_SOMETHING', 500, 'broken'))).toMatchObject({ status: 500, code: 'internal_error' });
    const made = new InvalidRequest('already a problem');
    expect(toApiError(made)).toBe(made);
    expect(made).toBeInstanceOf(ApiError);
  });
});
