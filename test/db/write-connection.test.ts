import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, reconnectBackoff } from '../../src/db/client.js';
import { freePort } from '../../src/db/embedded.js';
import { isDatabaseUnavailable } from '../../src/db/pg-errors.js';
import { startQuery } from '../../src/db/pipeline.js';
import { WriteConnection } from '../../src/db/write-connection.js';
import { createTestDatabase } from '../helpers/db.js';
import { type RoundTripProxy, startRoundTripProxy } from '../helpers/pg-proxy.js';
import { unlessStuck, until } from '../helpers/waits.js';

// A write transaction on a connection of its own sends its first statements
// behind BEGIN without waiting for its answer (src/db/write-connection.ts).
// These tests hold what makes that safe: a statement of the transaction never
// runs anywhere but inside it, a lost connection fails the transaction at once
// and is opened again for the next, and a failure left in flight commits nothing.

let url: string;
let admin: postgres.Sql;

beforeAll(async () => {
  url = await createTestDatabase();
  admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin`create table written (n int primary key)`;
  // Checked only at COMMIT, as the attachments' reference to their session is: a COMMIT Postgres refuses.
  await admin`create table written_once (n int unique deferrable initially deferred)`;
});
afterAll(async () => {
  await admin.end();
});

/** A write connection as the app makes them, on `target`; closed by the test. */
function writeConnectionTo(target: string, applicationName: string): { database: Database; connection: WriteConnection } {
  const database = connectDatabase({ url: target, poolMax: 2, writeConnections: 1, applicationName, connectTimeoutSeconds: 2 });
  return { database, connection: database.writeConnections[0]! };
}

const backendPid = async (tx: postgres.TransactionSql) => (await tx<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
const rows = async () => (await admin<{ n: number }[]>`select n from written order by n`).map((row) => row.n);

/** A TCP forwarder to the database on a port that stays the same while it is stopped and started again. */
async function forwarder(port = 0): Promise<{ port: number; stop: () => Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).on('error', () => {});
    upstream.pipe(client).on('error', () => {});
    const end = () => (client.destroy(), upstream.destroy());
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a write connection', () => {
  it('sends the first statements with BEGIN: a transaction that writes once is two round trips', async () => {
    const direct = new URL(url);
    const proxy: RoundTripProxy = await startRoundTripProxy({ host: direct.hostname, port: Number(direct.port) });
    const through = new URL(url);
    through.port = String(proxy.port);
    const { database, connection } = writeConnectionTo(through.toString(), 'rt-write');
    try {
      // The first transaction opens the connection and prepares the statements; the second is counted.
      await connection.begin(async (tx) => tx`insert into written (n) values (${1})`);
      proxy.reset();
      await connection.begin(async (tx) => tx`insert into written (n) values (${2})`);
      expect(proxy.roundTrips().map((trip) => trip.statements.map((s) => s.trim()))).toEqual([
        ['begin', 'insert into written (n) values ($1)'],
        ['commit'],
      ]);
      expect(await rows()).toEqual([1, 2]);
    } finally {
      await database.close();
      await proxy.close();
      await admin`truncate written`;
    }
  });

  it('commits nothing when a statement left in flight fails, and takes the next transaction on the same connection', async () => {
    const { database, connection } = writeConnectionTo(url, 'wc-rollback');
    try {
      let pid = 0;
      const failing = connection.begin(async (tx) => {
        pid = await backendPid(tx);
        await tx`insert into written (n) values (${1})`;
        // Not awaited: it rides with the COMMIT, which Postgres then answers with a ROLLBACK.
        startQuery(tx`select 1 / 0`).catch(() => {});
        return 'done';
      });
      await expect(failing).rejects.toThrow(/ROLLBACK/);
      expect(await rows()).toEqual([]);
      // A refusal of the work's own rolls back too, and the connection stays.
      await expect(
        connection.begin(async (tx) => {
          await tx`insert into written (n) values (${2})`;
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(await connection.begin(backendPid)).toBe(pid);
      expect(await rows()).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('a COMMIT refused by a deferred constraint fails the transaction and leaves no connection behind', async () => {
    const { database, connection } = writeConnectionTo(url, 'wc-commit-refused');
    const open = async () =>
      (await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'wc-commit-refused'`)[0]!.n;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const refused = connection.begin(async (tx) => tx`insert into written_once (n) values (${attempt}), (${attempt})`);
        await expect(refused).rejects.toMatchObject({ code: '23505' });
      }
      await connection.begin(async (tx) => tx`insert into written (n) values (${1})`);
      expect(await rows()).toEqual([1]);
      // Each refused COMMIT left its connection out of use: it is closed, not kept open beside the one that replaced it.
      await expect.poll(open).toBe(1);
    } finally {
      await database.close();
      await admin`truncate written, written_once`;
    }
  });

  it('the close of a connection it replaced does not fail the transaction running on the new one, whenever it arrives', async () => {
    // The app's write connection (db/client.ts), each close counted; the first connection's close is held back
    // until the test lets it through, so it surely arrives while the next transaction runs (a slow close).
    const clients: postgres.Sql[] = [];
    const heldCloses: (() => void)[] = [];
    const connection = new WriteConnection((onclose) => {
      const first = clients.length === 0;
      const client = postgres(url, {
        max: 1,
        idle_timeout: 0,
        max_lifetime: 0,
        onnotice: () => {},
        connection: { application_name: 'wc-replaced' },
        onclose: () => (first ? heldCloses.push(onclose) : onclose()),
      });
      clients.push(client);
      return client;
    });
    try {
      // A COMMIT Postgres refuses: its connection is replaced (ended at once), the next transaction opens another.
      await expect(connection.begin(async (tx) => tx`insert into written_once (n) values (${1}), (${1})`)).rejects.toMatchObject({ code: '23505' });
      let pid = 0;
      const next = connection.begin(async (tx) => {
        pid = await backendPid(tx);
        await tx`insert into written (n) values (${1})`;
        await until(() => heldCloses.length === 1, 'the replaced connection to close');
        heldCloses[0]!();
        await tx`insert into written (n) values (${2})`;
      });
      await unlessStuck(next, 'the transaction on the new connection');
      expect(await rows()).toEqual([1, 2]);
      expect(clients).toHaveLength(2);
      // The new connection is still the write connection, open: the transaction after takes it as it is.
      expect(await connection.begin(backendPid)).toBe(pid);
      expect(clients).toHaveLength(2);
    } finally {
      await connection.end(5);
      await admin`truncate written, written_once`;
    }
  });

  it('hands a failed statement left in flight to `settled`, so the caller sees that failure, not a bare rollback', async () => {
    const { database, connection } = writeConnectionTo(url, 'wc-settled');
    try {
      const order: string[] = [];
      const failing = connection.begin(
        async (tx) => {
          await tx`insert into written (n) values (${1})`;
          const inFlight = startQuery(tx`select 1 / 0`);
          inFlight.catch(() => order.push('statement failed'));
          return { inFlight };
        },
        ({ inFlight }) => {
          order.push('settled');
          return inFlight;
        },
      );
      await expect(failing).rejects.toThrow(/division by zero/);
      expect(order).toEqual(['statement failed', 'settled']);
      expect(await rows()).toEqual([]);
      // Settled work that succeeds: its answer is awaited before the result comes back.
      let answered = false;
      const result = await connection.begin(
        async (tx) => {
          const inFlight = startQuery(tx`insert into written (n) values (${2})`);
          return { inFlight };
        },
        async ({ inFlight }) => {
          await inFlight;
          answered = true;
        },
      );
      expect(answered).toBe(true);
      expect(result).toHaveProperty('inFlight');
      expect(await rows()).toEqual([2]);
    } finally {
      await database.close();
      await admin`truncate written`;
    }
  });

  it('fails at once when its connection dies mid-transaction; nothing the work sends afterwards runs anywhere', async () => {
    const { database, connection } = writeConnectionTo(url, 'wc-killed');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    try {
      let backend!: (pid: number) => void;
      const reached = new Promise<number>((resolve) => (backend = resolve));
      let late: Promise<unknown> | undefined;
      const transaction = connection.begin(async (tx) => {
        backend(await backendPid(tx));
        // The work waits on something other than the database when its connection dies: only the close can end it.
        await gate;
        late = startQuery(tx`insert into written (n) values (${1})`);
        await late;
      });
      // Caught before the backend dies: its close may fail the transaction before the admin's answer arrives.
      const failed = transaction.catch((error: unknown) => error);
      await admin`select pg_terminate_backend(${await unlessStuck(reached, 'the transaction reaching its backend')})`;
      // Its close alone ends it: the work is still waiting on the gate.
      const failure = await unlessStuck(failed, 'the transaction whose connection died');
      expect(isDatabaseUnavailable(failure)).toBe(true);
      // The work goes on after the failure and sends an insert: it fails, it is never run on a new connection outside any transaction.
      release();
      await expect.poll(() => late !== undefined).toBe(true);
      await expect(unlessStuck(late!.then(() => 'ran', () => 'failed'), 'the insert sent after the connection died')).resolves.toBe('failed');
      expect(await rows()).toEqual([]);
      // The next transaction opens the connection again.
      await unlessStuck(
        connection.begin(async (tx) => tx`insert into written (n) values (${2})`),
        'the next transaction',
      );
      expect(await rows()).toEqual([2]);
    } finally {
      // Whatever failed above, the work is let go: left waiting, it would hold the connection past the test.
      release();
      await database.close();
      await admin`truncate written`;
    }
  });

  it('fails fast while the database cannot be reached, and serves the next transactions once it can, on one connection', async () => {
    const path = await forwarder();
    const through = new URL(url);
    through.port = String(path.port);
    const { database, connection } = writeConnectionTo(through.toString(), 'wc-outage');
    let back: Awaited<ReturnType<typeof forwarder>> | undefined;
    try {
      await connection.begin(async (tx) => tx`insert into written (n) values (${1})`);
      await path.stop();
      for (let attempt = 0; attempt < 5; attempt++) {
        const failure = await connection.begin(async (tx) => tx`insert into written (n) values (${100 + attempt})`).catch((error: unknown) => error);
        expect(isDatabaseUnavailable(failure), String(failure)).toBe(true);
      }
      back = await forwarder(path.port);
      // Transactions one after another: a connection attempt left waiting during the outage would take the connection for no one, and these would wait for good.
      for (let n = 2; n <= 6; n++) await connection.begin(async (tx) => tx`insert into written (n) values (${n})`);
      expect(await rows()).toEqual([1, 2, 3, 4, 5, 6]);
      const [open] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = 'wc-outage'`;
      expect(open!.n).toBe(1);
    } finally {
      await database.close();
      await back?.stop();
      await admin`truncate written`;
    }
  });
});

describe('with several hosts in the URL (a primary and its standby)', () => {
  it('reaches the next host when the first is down, and again after its connection is lost', async () => {
    const database = new URL(url);
    // A port freed just now: nothing listens there, so a connection is refused at once, as by a host that is down.
    // `host1:port1,host2:port2` (docs/operations.md): a URL the WHATWG parser does not take, so it is written out.
    const hosts = `${database.protocol}//${database.username}:${database.password}@127.0.0.1:${await freePort()},${database.hostname}:${database.port}${database.pathname}`;
    const { database: app, connection } = writeConnectionTo(hosts, 'wc-hosts');
    try {
      await unlessStuck(
        connection.begin(async (tx) => tx`insert into written (n) values (${1})`),
        'a write past the host that is down',
      );
      expect(await rows()).toEqual([1]);
      // Its connection is lost mid-transaction (a restart): the transaction fails, and the next one tries the hosts again.
      let backend!: (pid: number) => void;
      const reached = new Promise<number>((resolve) => (backend = resolve));
      const lost = connection
        .begin(async (tx) => {
          backend(await backendPid(tx));
          await new Promise(() => {});
        })
        .catch((error: unknown) => error);
      await admin`select pg_terminate_backend(${await unlessStuck(reached, 'a transaction on the second host')})`;
      expect(isDatabaseUnavailable(await unlessStuck(lost, 'the failure of the transaction whose connection was lost'))).toBe(true);
      await unlessStuck(
        connection.begin(async (tx) => tx`insert into written (n) values (${2})`),
        'a write after the connection was lost',
      );
      expect(await rows()).toEqual([1, 2]);
    } finally {
      await app.close();
      await admin`truncate written`;
    }
  });
});

describe('after failed connection attempts', () => {
  it('the next attempt comes within a second however many failed, so a promoted standby is found fast (postgres.js would wait up to 20 s)', () => {
    for (let retries = 0; retries <= 40; retries++) {
      for (let sample = 0; sample < 20; sample++) {
        const seconds = reconnectBackoff(retries);
        expect(seconds, `after ${retries} failures`).toBeGreaterThan(0);
        expect(seconds, `after ${retries} failures`).toBeLessThanOrEqual(1);
      }
    }
    // The first retries come quickly: a brief blip costs a few milliseconds, not a second.
    expect(reconnectBackoff(0)).toBeLessThanOrEqual(0.01);
  });
});
