// A subscriber that opens a stream and then never reads: does the server cut it off?
import net from 'node:net';
import { report, serve } from './worker.js';

serve<{ port: number; session: string }, { closedByServer: boolean }>(async ({ port, session }, control) => {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET /v1/sessions/${session}/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`);
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  report({ type: 'ready' });
  await new Promise<void>((resolve) => control.on('finish', () => resolve()));
  // Drain what is buffered: a server that cut us off has sent FIN (or RST).
  const closed = new Promise<boolean>((resolve) => {
    socket.on('end', () => resolve(true));
    socket.on('error', () => resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  socket.resume();
  socket.on('data', () => {});
  const closedByServer = await closed;
  socket.destroy();
  return { closedByServer };
});
