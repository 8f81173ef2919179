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

/** A proxy that passes everything; its `close()` cuts the database off (every connection, and every new one refused). */
export function startPassThroughProxy(target: { host: string; port: number }): Promise<PgProxy> {
  return startPgProxy(target, (client, upstream) => {
    client.pipe(upstream);
    upstream.pipe(client);
  });
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

/** One round trip: what the client sent before it heard back, as the statements it ran (their SQL text). */
export interface RoundTrip {
  statements: string[];
}

export interface RoundTripProxy extends PgProxy {
  /** The round trips of every connection but the LISTEN one since the last `reset()`, in the order they began. */
  roundTrips(): RoundTrip[];
  reset(): void;
}

/** Reads protocol messages (a type byte and a length that counts itself) out of a byte stream cut anywhere. */
function messageReader(onMessage: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const size = 1 + pending.readInt32BE(1);
      if (pending.length < size) break;
      onMessage(pending[0]!, pending.subarray(5, size));
      pending = pending.subarray(size);
    }
  };
}

/** The NUL-terminated strings at the start of a message's body. */
function cStrings(body: Buffer, count: number): string[] {
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i += 1) {
    const end = body.indexOf(0, at);
    out.push(body.toString('utf8', at, end));
    at = end + 1;
  }
  return out;
}

/**
 * A proxy that counts round trips: how many times a client had to wait for
 * the database's answers before it could send what came next, however many
 * statements each carried. It holds back the server's answers on a
 * connection until every request the client has sent there is answered
 * (each Sync or simple Query gets one ReadyForQuery), so the client sees a
 * wave of answers at once, as from a database far away; whatever the client
 * sends next is a new round trip. The count is then the chain of waits the
 * client's code makes, independent of timing. Connection startup (before the
 * first ReadyForQuery) passes untouched and is not counted; so is the LISTEN
 * connection (its startup names `session-sync-listen`).
 */
export async function startRoundTripProxy(target: { host: string; port: number }): Promise<RoundTripProxy> {
  let trips: { at: number; trip: RoundTrip }[] = [];
  let order = 0;
  const proxy = await startPgProxy(target, (client, upstream) => {
    let listen: boolean | undefined;
    let ready = false;
    /** Requests sent, answers received: the server's bytes are held while they differ. */
    let requests = 0;
    let answers = 0;
    let held: Buffer[] = [];
    /** The round trip the client is sending now; closed when the answers are delivered. */
    let current: RoundTrip | undefined;
    const named = new Map<string, string>();
    let unnamed = '';
    const portals = new Map<string, string>();

    const fromClient = messageReader((type, body) => {
      const kind = String.fromCharCode(type);
      if (kind === 'S' || kind === 'Q') requests += 1;
      if (!ready || listen) return;
      if (current === undefined) {
        current = { statements: [] };
        trips.push({ at: (order += 1), trip: current });
      }
      if (kind === 'P') {
        const [name, text] = cStrings(body, 2) as [string, string];
        if (name === '') unnamed = text;
        else named.set(name, text);
      } else if (kind === 'B') {
        const [portal, statement] = cStrings(body, 2) as [string, string];
        portals.set(portal, statement === '' ? unnamed : (named.get(statement) ?? `?${statement}`));
      } else if (kind === 'E') {
        const [portal] = cStrings(body, 1) as [string];
        current.statements.push(portals.get(portal) ?? '?');
      } else if (kind === 'Q') {
        current.statements.push(...cStrings(body, 1));
      }
    });
    const fromServer = messageReader((type) => {
      if (type !== 0x5a) return;
      // The first ReadyForQuery ends the startup, which answers no request.
      if (ready) answers += 1;
      ready = true;
    });

    client.on('data', (chunk: Buffer) => {
      if (listen === undefined) {
        listen = chunk.includes('session-sync-listen');
        // The startup message has no type byte: its answers are read from here on, its own bytes not.
        upstream.write(chunk);
        return;
      }
      fromClient(chunk);
      upstream.write(chunk);
    });
    let delivering = false;
    const deliver = () => {
      delivering = false;
      // The client sent more meanwhile: its answers come with those.
      if (answers < requests || held.length === 0) return;
      client.write(Buffer.concat(held));
      held = [];
      current = undefined;
    };
    upstream.on('data', (chunk: Buffer) => {
      const started = ready;
      fromServer(chunk);
      if (!started || listen) return void client.write(chunk);
      held.push(chunk);
      if (answers < requests || delivering) return;
      // At the end of this turn of the event loop, not at once: the driver writes a wave's first KiB at once and
      // the rest at the end of its own turn, and by then the rest has arrived here too, so the wave counts once.
      delivering = true;
      setImmediate(deliver);
    });
  });
  return {
    ...proxy,
    roundTrips: () => trips.map(({ trip }) => trip),
    reset: () => {
      trips = [];
    },
  };
}
