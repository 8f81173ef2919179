import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { busyBackends as busyBackendsOf } from '../helpers/postgres.js';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';
import { logSink } from '../helpers/logs.js';

/**
 * The database pool is shared by every request: a client that sends slowly,
 * stops reading or vanishes must not keep a connection from the others, for
 * any route that streams. These run against a pool of 4, with raw sockets
 * playing the clients. Whether the API answers while clients stall is asked
 * with the server's timeouts far off (`HELD`), so a pool they held would keep
 * the answer waiting for as long as the test runs; what the timeouts do is
 * asked with short ones, once their answers came.
 */

/** Timeouts no wait here comes near: what a stalled client holds, it holds until the test lets it go. */
const HELD = { TRANSFER_IDLE_TIMEOUT_MS: '60000', REQUEST_TIMEOUT_MS: '60000' };
/** How long an ordinary request may take: milliseconds on an idle machine, about 1 s on a loaded CI, and far below `HELD`. */
const ANSWER_MS = 10_000;
/**
 * How long the server may take to let go of what a cut or vanished client held (vitest's poll gives up after 1 s
 * by default, which a loaded machine missed once an idle timeout of 1 s had to fire first), far below `HELD`.
 */
const SETTLE_MS = 10_000;

interface RawClient {
  socket: net.Socket;
  /** What the server sent so far (only once `read()` was called: before that the socket is paused). */
  answer: () => string;
  /** Starts taking bytes (a paused socket takes none, and TCP stops the server's writes). */
  read: () => void;
  /** The connection is gone (the server cut it, or it ended after an answer with Connection: close). */
  closed: () => boolean;
  /** Some of the answer came, read or not (a paused socket still takes in its first 64 KiB). */
  answered: () => boolean;
}

/** Every raw client of the running test: closed before the app, which waits for its connections. */
const clients = new Set<net.Socket>();

async function closeAll(t: TestApp): Promise<void> {
  for (const socket of clients) socket.destroy();
  clients.clear();
  await t.close();
}

async function connect(baseUrl: string): Promise<RawClient> {
  const socket = net.connect({ port: Number(new URL(baseUrl).port), host: '127.0.0.1' });
  clients.add(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  let closed = false;
  socket.on('error', () => {});
  socket.once('close', () => (closed = true));
  return {
    socket,
    answer: () => text,
    read: () => socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1'))),
    closed: () => closed,
    answered: () => text.length > 0 || socket.readableLength > 0,
  };
}

/** Opens a request that sends its headers and `body` (not all of what it declares) and then nothing. */
async function stalledRequest(t: TestApp, method: string, path: string, headers: Record<string, string>, body: string): Promise<RawClient> {
  const client = await connect(t.baseUrl);
  const head = Object.entries({ host: 'x', ...headers }).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  client.socket.write(`${method} ${path} HTTP/1.1\r\n${head}\r\n${body}`);
  client.read();
  return client;
}

/** A GET whose reader never takes a byte of the answer. */
async function pausedReader(t: TestApp, path: string): Promise<RawClient> {
  const client = await connect(t.baseUrl);
  client.socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
  return client;
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const codeOf = (raw: string) => /"code":"([a-z_]+)"/.exec(raw)?.[1];
const outcomeOf = (client: RawClient) => `${statusOf(client.answer())} ${codeOf(client.answer())}`;

/**
 * Waits until each client has its problem answer, and returns them as "status code". (A refusal leaves its
 * connection open, the rest of the body unread: what happens to that is not this file's subject.)
 */
async function outcomes(requests: RawClient[], timeoutMs = 10_000): Promise<string[]> {
  await expect
    .poll(() => requests.filter((request) => codeOf(request.answer()) === undefined).length, { timeout: timeoutMs, interval: 50 })
    .toBe(0);
  return requests.map(outcomeOf);
}

/** An ordinary request still gets its answer. */
async function expectAnswered(t: TestApp, path = '/v1/sessions/bystander'): Promise<void> {
  const response = await fetch(`${t.baseUrl}${path}`, { signal: AbortSignal.timeout(ANSWER_MS) }).catch((error: Error) => {
    throw new Error(`GET ${path} got no answer within ${ANSWER_MS / 1000} s (${error.name}): the pool is held by clients that do not move`);
  });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
}

const busyBackends = (t: TestApp) => busyBackendsOf(t.url);

/** The transfers that got a slot have started: each holds its connection (a COPY, an import's or an export's transaction). */
async function expectTransfersHolding(t: TestApp): Promise<void> {
  await expect.poll(() => busyBackends(t), { interval: 100, timeout: SETTLE_MS }).toHaveLength(t.config.maxTransfers);
}

async function expectPoolWhole(t: TestApp): Promise<void> {
  await expect.poll(() => busyBackends(t), { interval: 100, timeout: SETTLE_MS }).toEqual([]);
  // And as many ordinary requests at once as the pool holds all get their answers.
  const answers = await Promise.all(
    Array.from({ length: t.config.dbPoolMax }, () => fetch(`${t.baseUrl}/v1/sessions/bystander`, { signal: AbortSignal.timeout(ANSWER_MS) })),
  );
  expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
}

async function appWith(env: Record<string, string>, log?: ReturnType<typeof logSink>): Promise<TestApp> {
  const t = await createTestApp({ env: { DB_POOL_MAX: '4', ...env }, ...(log ? { log } : {}) });
  await t.listen();
  await createSession(t, 'bystander');
  return t;
}

/** A session whose export is far larger than what the sockets buffer between a paused reader and the server. */
async function largeSession(t: TestApp, id: string): Promise<void> {
  await createSession(t, id);
  const bytes = Buffer.alloc(12 * 1024 * 1024, 7);
  const upload = await t.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attachments`, headers: { 'content-type': 'application/octet-stream' }, payload: bytes });
  expect(upload.statusCode, upload.body).toBe(201);
}

const uploadHeaders = { 'content-type': 'application/octet-stream', 'content-length': '100000' };
const importHeaders = { 'content-type': 'application/x-ndjson', 'content-length': '100000' };

describe('uploads past the request timeout', () => {
  it('give their connections back: four of them on a pool of four, and the API still answers', async () => {
    const t = await appWith({ REQUEST_TIMEOUT_MS: '1000' });
    try {
      await createSession(t, 'up');
      const uploads = await Promise.all(Array.from({ length: 4 }, () => stalledRequest(t, 'POST', '/v1/sessions/up/attachments', uploadHeaders, 'abc')));
      const answers = await outcomes(uploads);
      await expectAnswered(t);
      await expectPoolWhole(t);
      // The first ones timed out; past the transfer limit the others were refused at once, and told when to retry.
      expect(answers.filter((answer) => answer === '408 request_timeout')).toHaveLength(t.config.maxTransfers);
      expect(answers.filter((answer) => answer === '503 too_many_transfers')).toHaveLength(4 - t.config.maxTransfers);
      expect(uploads.find((upload) => codeOf(upload.answer()) === 'too_many_transfers')?.answer()).toMatch(/\r\nretry-after: 1\r\n/i);
    } finally {
      await closeAll(t);
    }
  }, 25_000);
});

describe('clients that stall or stop reading, on every route that streams', () => {
  it('uploads that send two bytes and stop do not starve the API', async () => {
    const t = await appWith(HELD);
    try {
      await createSession(t, 'up');
      await Promise.all(Array.from({ length: 12 }, () => stalledRequest(t, 'POST', '/v1/sessions/up/attachments', uploadHeaders, 'ab')));
      await expectTransfersHolding(t);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  });

  it('uploads that send two bytes and stop are cut by the idle timeout and do not keep their connections', async () => {
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '1000' });
    try {
      await createSession(t, 'up');
      const uploads = await Promise.all(Array.from({ length: 12 }, () => stalledRequest(t, 'POST', '/v1/sessions/up/attachments', uploadHeaders, 'ab')));
      // REQUEST_TIMEOUT_MS is its default 30 s: what ends them is the idle timeout on the body.
      const answers = await outcomes(uploads);
      expect(answers.filter((answer) => answer === '408 request_timeout')).toHaveLength(t.config.maxTransfers);
      expect(answers.filter((answer) => answer === '503 too_many_transfers')).toHaveLength(12 - t.config.maxTransfers);
      expect(uploads.find((upload) => codeOf(upload.answer()) === 'request_timeout')?.answer()).toContain('TRANSFER_IDLE_TIMEOUT_MS');
      await expectPoolWhole(t);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  /** Imports whose header and session lines are in, so their transactions are open; the next line never ends. */
  async function stalledImports(t: TestApp): Promise<RawClient[]> {
    await createSession(t, 'orig');
    const file = await (await fetch(`${t.baseUrl}/v1/sessions/orig/export`)).text();
    const [header, session] = file.split('\n');
    return Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stalledRequest(t, 'POST', `/v1/sessions/import?id=copy-${i}`, importHeaders, `${header}\n${session}\n{"record":"ev`),
      ),
    );
  }

  it('imports that stall halfway do not starve the API', async () => {
    const t = await appWith(HELD);
    try {
      await stalledImports(t);
      await expectTransfersHolding(t);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  });

  it('imports that stall halfway are cut by the idle timeout and do not keep their transactions', async () => {
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '1000' });
    try {
      const imports = await stalledImports(t);
      const answers = await outcomes(imports);
      expect(answers.filter((answer) => answer === '408 request_timeout')).toHaveLength(t.config.maxTransfers);
      expect(answers.filter((answer) => answer === '503 too_many_transfers')).toHaveLength(8 - t.config.maxTransfers);
      await expectPoolWhole(t);
      await expectAnswered(t);
      // Nothing of them was kept.
      expect((await call(t.app, 'GET', '/v1/sessions/copy-0')).statusCode).toBe(404);
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  it('paused export readers do not starve the API', async () => {
    const t = await appWith(HELD);
    try {
      await largeSession(t, 'big');
      await Promise.all(Array.from({ length: 12 }, () => pausedReader(t, '/v1/sessions/big/export')));
      await expectTransfersHolding(t);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  it('paused export readers are cut by the idle timeout and do not keep their transactions', async () => {
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '1000' });
    try {
      await largeSession(t, 'big');
      const readers = await Promise.all(Array.from({ length: 12 }, () => pausedReader(t, '/v1/sessions/big/export')));
      // Each has its answer's start: those with a slot have their transactions (an export reads before it answers).
      await expect.poll(() => readers.filter((reader) => !reader.answered()).length, { interval: 50, timeout: SETTLE_MS }).toBe(0);
      // The readers still hold their sockets open: only the server can have let go. Those past the limit were
      // refused (their answer unread), the others cut once they took nothing for TRANSFER_IDLE_TIMEOUT_MS.
      await expectPoolWhole(t);
      await expectAnswered(t);
      // A paused socket sees the end only once it reads what came before it.
      for (const reader of readers) reader.read();
      await expect.poll(() => readers.filter((reader) => reader.closed()).length, { interval: 50, timeout: SETTLE_MS }).toBe(t.config.maxTransfers);
      for (const cut of readers.filter((reader) => reader.closed())) {
        expect(statusOf(cut.answer())).toBe(200);
        expect(cut.answer()).not.toContain('"record":"end"');
      }
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  it('an export refused (unknown session) gives its transfer slot back: the next exports are served, not 503', async () => {
    const t = await appWith({ MAX_TRANSFERS: '1' });
    try {
      for (let round = 0; round < 3; round++) {
        expect((await call(t.app, 'GET', '/v1/sessions/no-such-session/export')).statusCode).toBe(404);
      }
      expect((await call(t.app, 'GET', '/v1/sessions/bystander/export')).statusCode).toBe(200);
    } finally {
      await closeAll(t);
    }
  });

  it('exports abandoned while paused give their connections back', async () => {
    // The idle timeout is long here: what frees the connections is the clients closing.
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '60000' });
    try {
      await largeSession(t, 'big');
      for (let round = 0; round < 2; round++) {
        const readers = await Promise.all(Array.from({ length: 12 }, () => pausedReader(t, '/v1/sessions/big/export')));
        await expectTransfersHolding(t);
        for (const reader of readers) reader.socket.destroy();
        await expectPoolWhole(t);
      }
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  /** Slow, paused and soon-vanished clients of every route that streams: uploads, imports, live ingest, then the readers. */
  async function everyStreamingRoute(t: TestApp): Promise<{ stalled: RawClient[]; paused: RawClient[] }> {
    await largeSession(t, 'big');
    const [attachment] = (await call(t.app, 'GET', '/v1/sessions/big/attachments')).json().attachments;
    const file = await (await fetch(`${t.baseUrl}/v1/sessions/bystander/export`)).text();
    const [header, session] = file.split('\n');
    const [stalled, paused] = await Promise.all([
      Promise.all([
        ...Array.from({ length: 3 }, () => stalledRequest(t, 'POST', '/v1/sessions/big/attachments', uploadHeaders, 'ab')),
        ...Array.from({ length: 3 }, (_, i) => stalledRequest(t, 'POST', `/v1/sessions/import?id=mixed-${i}`, importHeaders, `${header}\n${session}\n`)),
        ...Array.from({ length: 3 }, () => stalledRequest(t, 'POST', '/v1/sessions/big/live', importHeaders, '{"type":"token","data":"a"}\n{"ty')),
      ]),
      Promise.all([
        ...Array.from({ length: 3 }, () => pausedReader(t, '/v1/sessions/big/export')),
        ...Array.from({ length: 3 }, () => pausedReader(t, `/v1/sessions/big/attachments/${attachment.attachment_id}`)),
        ...Array.from({ length: 3 }, () => pausedReader(t, '/v1/sessions/big/stream')),
      ]),
    ]);
    return { stalled, paused };
  }

  /** Half of them vanish mid-way (every other one); returns those left. */
  function vanishHalf(clients: RawClient[]): RawClient[] {
    clients.filter((_, i) => i % 2 === 0).forEach((client) => client.socket.destroy());
    return clients.filter((_, i) => i % 2 === 1);
  }

  it('slow, paused and vanished clients of every streaming route at once: the API answers while they stall and after half vanish', async () => {
    const t = await appWith(HELD);
    try {
      const { stalled, paused } = await everyStreamingRoute(t);
      await expectTransfersHolding(t);
      await expectAnswered(t);
      vanishHalf([...stalled, ...paused]);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  it('slow, paused and vanished clients of every streaming route at once: once the server\'s timeouts end the rest, the pool is whole', async () => {
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '3000' });
    try {
      const { stalled, paused } = await everyStreamingRoute(t);
      const left = vanishHalf([...stalled, ...paused]);
      // The rest are left to the server's timeouts: the requests get their answers, the readers are cut (a transfer
      // among them had its transaction before it answered: the pool is whole only once it let go).
      await outcomes(left.filter((client) => stalled.includes(client)));
      await expect.poll(() => left.filter((client) => paused.includes(client) && !client.answered()).length, { interval: 50, timeout: SETTLE_MS }).toBe(0);
      await expectPoolWhole(t);
      await expectAnswered(t);
    } finally {
      await closeAll(t);
    }
  }, 25_000);
});

describe('transfers pipelined on one connection', () => {
  const request = (method: string, path: string, headers: Record<string, string> = {}) =>
    `${method} ${path} HTTP/1.1\r\n${Object.entries({ host: 'x', ...headers }).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n`;

  /** An export of the bystander (a few lines) as it comes back: 200, or the code of its refusal. */
  async function exportOutcome(t: TestApp): Promise<string> {
    const res = await fetch(`${t.baseUrl}/v1/sessions/bystander/export`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    return res.status === 200 ? '200' : `${res.status} ${codeOf(text)}`;
  }

  /** Every MAX_TRANSFERS slot is free: as many exports at once as there are slots are all served. */
  async function expectTransfersFree(t: TestApp): Promise<void> {
    const outcomes = await Promise.all(Array.from({ length: t.config.maxTransfers }, () => exportOutcome(t)));
    expect(outcomes).toEqual(outcomes.map(() => '200'));
  }

  /**
   * Behind a stream that holds the connection, `transfers` (GETs and a last request whose body stops halfway),
   * each answered by the server but queued behind the stream: on Node 22 their responses never hear the connection
   * close (Node 24 closes them), so only the socket can tell them.
   */
  async function pipelinedBehindAStream(t: TestApp, transfers: string): Promise<RawClient> {
    const client = await connect(t.baseUrl);
    client.socket.write(request('GET', '/v1/sessions/bystander/stream') + transfers);
    client.read();
    await expect.poll(() => statusOf(client.answer()), { timeout: SETTLE_MS }).toBe(200);
    return client;
  }

  it('exports and downloads queued behind a stream give their slots and connections back when the connection closes, not at TRANSFER_IDLE_TIMEOUT_MS', async () => {
    // The idle timeout is far past the polls below: what frees them is the connection closing.
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '600000', MAX_TRANSFERS: '2' });
    try {
      await largeSession(t, 'big');
      const [attachment] = (await call(t.app, 'GET', '/v1/sessions/big/attachments')).json().attachments;
      const download = request('GET', `/v1/sessions/big/attachments/${attachment.attachment_id}`);
      const exported = request('GET', '/v1/sessions/big/export');
      // A download holds no slot and no connection between its slices (what it buffers is test/unit/transfers.test.ts's):
      // here the downloads are what the exports are queued among.
      const client = await pipelinedBehindAStream(t, download + exported + download + exported + download);
      // Each export holds a slot and its snapshot's connection while its answer waits its turn; both slots are taken.
      await expect.poll(() => exportOutcome(t), { timeout: SETTLE_MS }).toBe('503 too_many_transfers');
      await expect.poll(async () => (await busyBackends(t)).length, { timeout: SETTLE_MS }).toBe(2);
      client.socket.destroy();
      await expect.poll(() => exportOutcome(t), { timeout: 5000 }).toBe('200');
      await expectTransfersFree(t);
      await expectPoolWhole(t);
    } finally {
      await closeAll(t);
    }
  }, 25_000);

  it('an upload and an import queued behind a stream, their bodies cut halfway, give their slots and connections back when the connection closes', async () => {
    const log = logSink('warn');
    const t = await appWith({ TRANSFER_IDLE_TIMEOUT_MS: '600000', MAX_TRANSFERS: '1' }, log);
    try {
      await createSession(t, 'up');
      const file = await (await fetch(`${t.baseUrl}/v1/sessions/bystander/export`)).text();
      const [header, session] = file.split('\n');
      for (const cut of [
        `${request('POST', '/v1/sessions/up/attachments', uploadHeaders)}ab`,
        `${request('POST', '/v1/sessions/import?id=copy', importHeaders)}${header}\n${session}\n{"record":"ev`,
      ]) {
        // Node 22 ends a queued request's body with "aborted" when the connection closes, so the slot came back before
        // the socket was listened to as well; what that adds here is the log below.
        const client = await pipelinedBehindAStream(t, cut);
        await expect.poll(() => exportOutcome(t), { timeout: SETTLE_MS }).toBe('503 too_many_transfers');
        client.socket.destroy();
        await expect.poll(() => exportOutcome(t), { timeout: 5000 }).toBe('200');
        await expectTransfersFree(t);
        await expectPoolWhole(t);
      }
      expect((await call(t.app, 'GET', '/v1/sessions/copy')).statusCode).toBe(404);
      // A client that left is no failure of the server's: the only errors logged are the refusals above (503s are logged).
      expect(log.entries().filter((entry) => entry.level >= 50 && entry.err?.code !== 'too_many_transfers')).toEqual([]);
    } finally {
      await closeAll(t);
    }
  }, 25_000);
});
