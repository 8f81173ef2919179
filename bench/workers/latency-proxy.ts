// A TCP proxy that delays every chunk by a fixed time in each direction: the
// server and its database as far apart as two zones of a cloud region
// (scenario 8: 1 ms each way). A process of its own, so its CPU is not the server's.
// It reports `listening` with its port and runs until it is killed.
import net from 'node:net';
import { report, serve } from './worker.js';

interface Input {
  target: { host: string; port: number };
  /** Added to every round trip: half of it each way. */
  roundTripMs: number;
}

serve<Input, never>(async ({ target, roundTripMs }) => {
  const oneWay = roundTripMs / 2;
  // Chunks keep their order: timers of equal delay fire in the order they were set.
  const forward = (to: net.Socket) => (chunk: Buffer) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, oneWay);
  };
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  report({ type: 'listening', port: (server.address() as net.AddressInfo).port });
  return new Promise<never>(() => {});
});
