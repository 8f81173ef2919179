import { type ChildProcess, spawn } from 'node:child_process';

/** The server as users start it: a separate process running src/main.ts. */
export interface SpawnedServer {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnServer(env: Record<string, string>): SpawnedServer {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collected(child);
}

/** A spawned process with its stdout and stderr kept, in arrival order, and its exit awaited. */
export function collected(child: ChildProcess): SpawnedServer {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves once /readyz answers 200; throws with the server's output if it exits first. */
export async function waitServerReady(base: string, running: SpawnedServer, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    if (running.child.exitCode !== null) throw new Error(`server exited: ${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  running.child.kill('SIGKILL');
  throw new Error(`server not ready: ${running.output()}`);
}

/** A ready server process on a given port and database, that a test can kill. */
export interface ServerProcess extends SpawnedServer {
  url: string;
  /** SIGKILL: no draining, no goodbye; resolves when the process is gone. */
  kill(): Promise<void>;
}

export async function startServerProcess(options: { port: number; databaseUrl: string; env?: Record<string, string> }): Promise<ServerProcess> {
  const running = spawnServer({ PORT: String(options.port), DATABASE_URL: options.databaseUrl, ...options.env });
  const url = `http://127.0.0.1:${options.port}`;
  await waitServerReady(url, running);
  return {
    ...running,
    url,
    async kill() {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
      await running.exited;
    },
  };
}
