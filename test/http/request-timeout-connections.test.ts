import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createSession, createTestApp } from '../helpers/app.js';

/**
 * REQUEST_TIMEOUT_MS and the connection: a request whose body never comes
 * must not hold a socket, whatever the client does with its own half.
 */

async function connect(baseUrl: string, allowHalfOpen: boolean) {
  const socket = net.connect({ port: Number(new URL(baseUrl).port), host: '127.0.0.1', allowHalfOpen });
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
  return { socket, answer: () => text, ended };
}

const connections = (server: net.Server) =>
  new Promise<number>((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

describe('a body that never arrives', () => {
  it('the 408 goes out and the server lets go of the socket, even for a client that keeps its half open', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
    await t.listen();
    try {
      const slow = await connect(t.baseUrl, true);
      slow.socket.write('POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"id":');
      await slow.ended;
      expect(slow.answer()).toMatch(/^HTTP\/1\.1 408 /);
      // The client has not closed its half: only the server can have let go.
      await expect.poll(() => connections(t.app.server), { timeout: 5000, interval: 50 }).toBe(0);
      expect(slow.socket.destroyed).toBe(false);
      slow.socket.destroy();
    } finally {
      await t.close();
    }
  }, 20_000);

  it('on a stream that already answered, the connection is cut at the timeout (no second answer)', async () => {
    const t = await createTestApp({ env: { REQUEST_TIMEOUT_MS: '1000' } });
    await t.listen();
    try {
      await createSession(t, 'cut');
      const client = await connect(t.baseUrl, false);
      const closed = new Promise<void>((resolve) => client.socket.once('close', () => resolve()));
      // A GET that announces a body it never sends: the stream answers at once, the body never completes.
      client.socket.write('GET /v1/sessions/cut/stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n');
      await expect.poll(() => client.answer(), { timeout: 5000, interval: 20 }).toContain('event: session.activity');
      await closed;
      const answer = client.answer();
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer.match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
      expect(answer).not.toContain('request_timeout');
      expect(await connections(t.app.server)).toBe(0);
    } finally {
      await t.close();
    }
  }, 20_000);
});
