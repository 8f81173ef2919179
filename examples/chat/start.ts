/**
 * `npm run example`: the chat example in one command. It starts the server
 * as `npm start` does (built, with an embedded PostgreSQL whose data is kept
 * under DATA_DIR, default .data/example-chat), then the worker, then the
 * page's development server, and prints the address to open. Ctrl-C stops
 * all three.
 *
 * EXAMPLE_PORT (default 5173) is the page's port. With SESSION_SYNC_URL set,
 * no server is started: the worker and the page use that one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { serveDashboard } from './serve.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];
/** What runs in this process (the page's server), closed first on the way out. */
const closers: (() => Promise<void>)[] = [];

/** Runs a part as its own process, its output prefixed with its name. Detached: only this script stops it, once. */
function run(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) console.log(`[${name}] ${line}`);
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}): stopping the example`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const close of closers) await close();
  // The server drains and stops its PostgreSQL; the worker lets its turns in flight finish.
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }),
  );
  console.log('chat example stopped');
  process.exit(code);
}
// Ctrl-C reaches this process only (the parts are detached), so each part is told exactly once.
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// Should this script end in any other way, the parts end with it.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
});

let api = process.env.SESSION_SYNC_URL;
if (!api) {
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  console.log(`starting the server on ${api} (data in ${process.env.DATA_DIR ?? '.data/example-chat'})`);
  const server = run('server', ['dist/main.js'], {
    PORT: String(port), DATA_DIR: process.env.DATA_DIR ?? '.data/example-chat', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    LOG_FORMAT: process.env.LOG_FORMAT ?? 'pretty',
  });
  await ready(api, server);
}
run('worker', ['--import', 'tsx', 'examples/chat/worker.ts'], { SESSION_SYNC_URL: api });
const dashboard = await serveDashboard({ api, port: Number(process.env.EXAMPLE_PORT ?? 5173) });
closers.push(() => dashboard.close());
console.log(`chat example serving: open ${dashboard.url}  (the API is ${api}, its inspector ${api}/inspect; Ctrl-C stops it all)`);

/** Waits for the server to answer /readyz (the database is up and migrated). */
async function ready(base: string, server: ChildProcess): Promise<void> {
  for (;;) {
    if (server.exitCode !== null) throw new Error('the server did not start (its output is above)');
    if (await fetch(`${base}/readyz`).then((answer) => answer.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
