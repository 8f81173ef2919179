import net from 'node:net';

export interface PgProxy {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of PostgreSQL; `pass` wires each connection's two
 * sockets, deciding what goes through. Only for plain-text connections (the
 * client must not ask for TLS).
 */
async function startPgProxy(
  target: { host: string; port: number },
  pass: (client: net.Socket, upstream: net.Socket) => void,
): Promise<PgProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    pass(client, upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A proxy that passes every protocol message except NotificationResponse
 * ('A'). That is what a client sees behind a pooler in transaction mode:
 * LISTEN is accepted, and the notifications go to whichever client holds the
 * server connection later, which is never the listener.
 */
export function startNotificationDroppingProxy(target: { host: string; port: number }): Promise<PgProxy> {
  return startPgProxy(target, (client, upstream) => {
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Every server message is a type byte and a length that counts itself.
      while (pending.length >= 5) {
        const size = 1 + pending.readInt32BE(1);
        if (pending.length < size) break;
        if (pending[0] !== 0x41) client.write(pending.subarray(0, size));
        pending = pending.subarray(size);
      }
    });
    client.pipe(upstream);
  });
}

/**
 * A proxy that delays what the server sends on the LISTEN connection (the one
 * whose startup names `session-sync-listen`) by `delayMs`, in order, and
 * passes every other connection through untouched: notifications reach that
 * instance late, as from a busy or far listener, while its pool stays fast.
 */
export function startListenDelayingProxy(target: { host: string; port: number }, delayMs: number): Promise<PgProxy> {
  return startPgProxy(target, (client, upstream) => {
    let delayed: boolean | undefined;
    client.on('data', (chunk: Buffer) => {
      // The startup message is the client's first.
      delayed ??= chunk.includes('session-sync-listen');
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (delayed) setTimeout(() => client.write(chunk), delayMs);
      else client.write(chunk);
    });
  });
}
