import { describe, expect, it } from 'vitest';
import { SessionSyncError } from '../../client/src/index.js';
import { ConnectionStatus, describeError, plainWords } from '../../inspector/src/status.js';

// The inspector's connection and problems (docs/guide.md, Connection and problems): each view's status
// line says `live`, `connecting…`, `reconnecting` or `stopped`, with why; problems are said in words, with
// the server's code in brackets for whoever reports them.

const problem = (status: number, code: string, detail = 'the detail') => new SessionSyncError({ status, code: code as SessionSyncError['code'], detail });
const unreachable = SessionSyncError.network(new TypeError('fetch failed'));

describe('a problem in plain words', () => {
  it('says what each failure means for the session named, then its code', () => {
    const cases: [SessionSyncError, string][] = [
      [unreachable, 'The server cannot be reached: it may be down or restarting. (network_error)'],
      [problem(404, 'session_deleted'), 'Session "trip:paris" was deleted. (404 session_deleted)'],
      [problem(404, 'session_not_found'), 'There is no session "trip:paris" on this server: it was never created, or it was deleted. (404 session_not_found)'],
      [problem(401, 'unauthorized'), 'The server refused the token: it is missing, has expired, or was not made for this server. (401 unauthorized)'],
      [problem(403, 'forbidden'), 'The token does not allow reading session "trip:paris". (403 forbidden)'],
      [problem(503, 'database_unavailable'), 'The server cannot reach its database right now. (503 database_unavailable)'],
      [problem(500, 'internal', 'boom'), 'The server failed to answer: boom (500 internal)'],
      [problem(502, 'http_502', 'Bad Gateway'), 'The server failed to answer: Bad Gateway (502 http_502)'],
      [problem(409, 'version_conflict', 'expected version 3, the head is 4'), 'expected version 3, the head is 4 (409 version_conflict)'],
      [problem(499, 'http_499', 'closed early'), 'closed early (499 http_499)'],
    ];
    for (const [error, words] of cases) expect(plainWords(error, 'trip:paris'), error.code).toBe(words);
  });

  it('names "this session" when it does not know which', () => {
    expect(plainWords(problem(404, 'session_deleted'))).toBe('This session was deleted. (404 session_deleted)');
    expect(plainWords(problem(404, 'session_not_found'))).toBe('There is no this session on this server: it was never created, or it was deleted. (404 session_not_found)');
    expect(plainWords(problem(403, 'forbidden'))).toBe('The token does not allow reading this session. (403 forbidden)');
  });

  it('takes an answer that names network_error for an answer: something on the way was reached', () => {
    // A proxy's JSON body with that code, say: the client keeps the status it came with.
    const proxied = problem(502, 'network_error', 'upstream reset');
    expect(plainWords(proxied, 'trip:paris')).toBe('The server failed to answer: upstream reset (502 network_error)');
    expect(describeError(proxied)).toBe('502 network_error: upstream reset');
  });

  it('gives a client error without an answer its code alone', () => {
    expect(plainWords(problem(0, 'closed', 'the store was closed'))).toBe('the store was closed (closed)');
    // A status 0 that is not the network's own code is no outage.
    expect(plainWords(problem(0, 'client_error', 'a handler threw'))).toBe('a handler threw (client_error)');
  });

  it('says anything else as it is', () => {
    expect(plainWords(new Error('Version 4 does not exist yet.'))).toBe('Version 4 does not exist yet.');
    expect(plainWords('stopped by hand')).toBe('stopped by hand');
  });
});

describe('an error in a line', () => {
  it('reads a client error as its status, code and detail, and no answer as the server out of reach', () => {
    expect(describeError(unreachable)).toBe('cannot reach the server (fetch failed)');
    expect(describeError(problem(404, 'session_not_found', 'no such session'))).toBe('404 session_not_found: no such session');
    expect(describeError(problem(0, 'closed', 'closed before it was ready'))).toBe('closed: closed before it was ready');
    expect(describeError(new TypeError('Failed to fetch'))).toBe('Failed to fetch');
    expect(describeError(42)).toBe('42');
  });
});

describe('a view\'s status line', () => {
  it('connects, then goes live once its streams are open', () => {
    const status = new ConnectionStatus('Sessions', undefined);
    expect(status.worst()).toBe('connecting');
    expect(status.line()).toBe('Sessions: connecting…');
    status.stream('feed', 'loading');
    expect(status.line()).toBe('Sessions: connecting…');
    status.stream('feed', 'open');
    expect(status.worst()).toBe('live');
    expect(status.line()).toBe('Sessions: live');
  });

  it('is as bad as its worst stream: stopped, then reconnecting, then connecting, then live', () => {
    const status = new ConnectionStatus('This session', 'trip:paris');
    status.stream('state', 'live');
    status.stream('stream', 'connecting');
    expect(status.worst()).toBe('connecting');
    status.stream('history', 'reconnecting');
    expect(status.worst()).toBe('reconnecting');
    expect(status.line()).toBe('This session: reconnecting…');
    status.stream('extra', 'closed');
    expect(status.worst()).toBe('closed');
    expect(status.line()).toBe('This session: stopped: the stream ended');
    status.stream('extra', 'open');
    status.stream('history', 'open');
    expect(status.worst()).toBe('connecting');
    status.stream('stream', 'open');
    expect(status.line()).toBe('This session: live');
  });

  it('says why a stream stopped: the view\'s own words, or its error in plain words', () => {
    const failed: unknown[] = [];
    const status = new ConnectionStatus('This session', 'trip:paris', (error) => failed.push(error));
    status.stream('stream', 'closed', 'it could not be opened (why is below)');
    expect(status.line()).toBe('This session: stopped: it could not be opened (why is below)');
    expect(failed).toEqual([]);
    const deleted = problem(404, 'session_deleted');
    status.stream('stream', 'closed', deleted);
    expect(status.line()).toBe('This session: stopped: Session "trip:paris" was deleted. (404 session_deleted)');
    // Every error goes to the page first: a refused token is the page's problem.
    expect(failed).toEqual([deleted]);
  });

  it('drops a stream\'s reason once it runs again, and shows the reason of one still stopped', () => {
    const status = new ConnectionStatus('This session', undefined);
    status.stream('state', 'closed', 'the state stopped');
    status.stream('stream', 'closed', 'the stream stopped');
    expect(status.line()).toBe('This session: stopped: the state stopped');
    status.stream('state', 'open');
    expect(status.line()).toBe('This session: stopped: the stream stopped');
    status.stream('stream', 'reconnecting');
    expect(status.line()).toBe('This session: reconnecting…');
    status.stream('stream', 'closed');
    expect(status.line()).toBe('This session: stopped: the stream ended');
  });

  it('says whether the server is down or only the connection dropped, once /healthz told, while reconnecting', () => {
    const status = new ConnectionStatus('Sessions', undefined);
    status.stream('feed', 'open');
    // Live, what /healthz says changes nothing, and is not kept for later.
    expect(status.serverDown(true)).toBe(false);
    status.stream('feed', 'reconnecting');
    expect(status.line()).toBe('Sessions: reconnecting…');
    expect(status.serverDown(true)).toBe(true);
    expect(status.line()).toBe('Sessions: reconnecting: the server cannot be reached (it may be down or restarting); this view follows on by itself once it is back');
    expect(status.serverDown(true)).toBe(false);
    expect(status.serverDown(false)).toBe(true);
    expect(status.line()).toBe('Sessions: reconnecting: the connection dropped; the server answers, so this view is live again in a moment');
    // Another stretch of reconnecting starts without knowing.
    status.stream('feed', 'open');
    status.stream('feed', 'reconnecting');
    expect(status.line()).toBe('Sessions: reconnecting…');
    expect(status.serverDown(false)).toBe(true);
    // Still reconnecting: what it knows stays.
    status.stream('other', 'open');
    expect(status.line()).toBe('Sessions: reconnecting: the connection dropped; the server answers, so this view is live again in a moment');
  });

  it('lists what failed to read, one line each, until that part reads again', () => {
    const failed: unknown[] = [];
    const status = new ConnectionStatus('This session', 'trip:paris', (error) => failed.push(error));
    expect(status.problems()).toEqual([]);
    const forbidden = problem(403, 'forbidden');
    status.problem('Queue', forbidden);
    status.problem('History', unreachable);
    expect(failed).toEqual([forbidden, unreachable]);
    expect(status.problems()).toEqual([
      'Queue: The token does not allow reading session "trip:paris". (403 forbidden)',
      'History: The server cannot be reached: it may be down or restarting. (network_error)',
    ]);
    status.problem('Queue', problem(500, 'internal', 'boom'));
    expect(status.problems()[0]).toBe('Queue: The server failed to answer: boom (500 internal)');
    expect(status.ok('Queue')).toBe(true);
    expect(status.ok('Queue')).toBe(false);
    expect(status.ok('Messages')).toBe(false);
    expect(status.problems()).toEqual(['History: The server cannot be reached: it may be down or restarting. (network_error)']);
    // Problems are apart from the streams.
    expect(status.line()).toBe('This session: connecting…');
  });
});
