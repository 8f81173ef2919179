import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { call, createSession, createTestApp, type TestApp } from '../helpers/app.js';

/**
 * A download holds no pool connection between its slices, but its response
 * and socket are held for as long as its reader keeps it open: the wait on
 * the reader is bounded by TRANSFER_IDLE_TIMEOUT_MS, like an export's. Raw
 * sockets play the readers; the file is larger than what the sockets between
 * them and the server buffer, so a reader that takes nothing stops the server.
 */

const FILE_BYTES = 8 * 1024 * 1024;

let t: TestApp | undefined;
const sockets = new Set<net.Socket>();

afterEach(async () => {
  // Before the app, which waits for its connections.
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await t?.close();
  t = undefined;
});

/** A file of FILE_BYTES that is not one repeated byte, so a slice out of place changes its sha256. */
function fileBytes(): Buffer {
  const bytes = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(i, i);
  return bytes;
}

async function appWithFile(bytes: Buffer, idleMs: number): Promise<{ app: TestApp; path: string }> {
  const app = await createTestApp({ env: { TRANSFER_IDLE_TIMEOUT_MS: String(idleMs) } });
  t = app;
  await app.listen();
  await createSession(app, 'files');
  const upload = await app.app.inject({
    method: 'POST',
    url: '/v1/sessions/files/attachments',
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  expect(upload.statusCode, upload.body).toBe(201);
  const [attachment] = (await call(app.app, 'GET', '/v1/sessions/files/attachments')).json().attachments;
  return { app, path: `/v1/sessions/files/attachments/${attachment.attachment_id}` };
}

/** A connection that has sent its GET; it takes no byte until something listens for 'data'. */
async function getOn(app: TestApp, path: string): Promise<net.Socket> {
  const socket = net.connect({ port: Number(new URL(app.baseUrl).port), host: '127.0.0.1' });
  sockets.add(socket);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
  return socket;
}

/** The server's open sockets (the upload and the API calls go through inject, so only the raw readers count). */
function openConnections(app: TestApp): Promise<number> {
  return new Promise((resolve, reject) => app.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe('a download whose reader', () => {
  it('takes nothing is cut by the server once it took nothing for TRANSFER_IDLE_TIMEOUT_MS', async () => {
    const { app, path } = await appWithFile(fileBytes(), 300);
    const socket = await getOn(app, path);
    // Without the bound the server waits on this reader (its response, its socket) for ever. (The client's own socket
    // cannot see the cut while it reads nothing: the end comes after the bytes it left in its buffers.)
    await expect.poll(() => openConnections(app), { timeout: 10_000, interval: 50 }).toBe(0);
    // Once it does read, what it gets is a cut transfer: fewer bytes than the file, then the end.
    const received: Buffer[] = [];
    let closed = false;
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('close', () => (closed = true));
    await expect.poll(() => closed, { timeout: 10_000, interval: 50 }).toBe(true);
    const raw = Buffer.concat(received);
    expect(raw.toString('latin1', 0, 20)).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.length - raw.indexOf('\r\n\r\n') - 4).toBeLessThan(FILE_BYTES);
    // And the API is not the worse for it.
    expect((await call(app.app, 'GET', '/v1/sessions/files')).statusCode).toBe(200);
  }, 30_000);

  it('reads slowly but steadily gets the whole file, intact, though the whole takes longer than TRANSFER_IDLE_TIMEOUT_MS', async () => {
    const bytes = fileBytes();
    // The server sees a wait each time the socket's send buffer is full, until the kernel frees a good part of it (up to
    // a few MiB here): long enough at this reader's pace that a bound as short as the other test's could cut it.
    const idleMs = 1500;
    const { app, path } = await appWithFile(bytes, idleMs);
    const socket = await getOn(app, path);
    const started = Date.now();
    const received: Buffer[] = [];
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      // A reader that takes a little at a time (a read is at most 64 KiB, so the whole is at least 128 pauses, 2.5 s):
      // each pause is far shorter than the idle bound.
      socket.pause();
      setTimeout(() => socket.resume(), 20);
    });
    socket.once('close', () => (ended = true));
    const whole = () => {
      const raw = Buffer.concat(received);
      const headEnd = raw.indexOf('\r\n\r\n');
      return headEnd >= 0 && raw.length - headEnd - 4 >= FILE_BYTES;
    };
    await expect.poll(() => whole() || ended, { timeout: 20_000, interval: 50 }).toBe(true);
    const raw = Buffer.concat(received);
    const headEnd = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, headEnd).toString('latin1');
    const body = raw.subarray(headEnd + 4);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toContain(`content-length: ${FILE_BYTES}`);
    expect(body.length).toBe(FILE_BYTES);
    expect(createHash('sha256').update(body).digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    // The bound is on a wait for the reader, not on the whole download.
    expect(Date.now() - started).toBeGreaterThan(idleMs);
  }, 30_000);
});
