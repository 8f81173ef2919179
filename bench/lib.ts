import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Row {
  scenario: string;
  metric: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  target: string;
  pass: boolean;
}

/** The server as users run it: `node dist/main.js`, its own process. */
export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startServer(databaseUrl: string, port: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  // e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the server under load.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // e.g. BENCH_SERVER_ENV='WRITE_CONCURRENCY=1' to compare settings in paired runs.
  const extraEnv = Object.fromEntries((process.env.BENCH_SERVER_ENV ?? '').split(' ').filter(Boolean).map((pair) => pair.split('=', 2) as [string, string]));
  const child = spawn(process.execPath, [...nodeArgs, 'dist/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DB_POOL_MAX: '20',
      ...extraEnv,
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server on port ${port} did not become ready`);
    await sleep(100);
  }
  return {
    url,
    pid: child.pid ?? 0,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process, in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** A counter or gauge from the server's /metrics. */
export async function metric(url: string, name: string): Promise<number> {
  const body = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return match ? Number(match[1]) : 0;
}

export async function api(url: string, method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * Load comes from separate processes: a worker is a forked Node process that
 * receives one `start` message and answers with one result message.
 */
export function runWorker<T>(name: string, input: unknown, onMessage?: (message: any, child: ChildProcess) => void): {
  child: ChildProcess;
  result: Promise<T>;
} {
  const child = fork(path.join(ROOT, 'bench/workers', `${name}.ts`), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const result = new Promise<T>((resolve, reject) => {
    child.on('message', (message: any) => {
      if (message?.type === 'result') resolve(message.value as T);
      else if (message?.type === 'error') reject(new Error(`${name}: ${message.message}`));
      else onMessage?.(message, child);
    });
    child.on('exit', (code) => reject(new Error(`${name} exited (${code}) without a result`)));
  });
  child.send({ type: 'start', input });
  return { child, result };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? NaN;
}

/** Wall-clock milliseconds, comparable across processes on this machine. */
export const wallMs = () => performance.timeOrigin + performance.now();

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux we run on

/** CPU time (user + system) a process has used, in milliseconds; 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU time of every local Postgres process, in ms (0 when Postgres runs elsewhere, e.g. DATABASE_URL). */
export function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuMsOf(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/**
 * Runs a load worker that reports `measuring` and `measured` (workers/measured.ts)
 * and reads `cpu()` (CPU ms of processes the worker does not own, e.g. the
 * server and Postgres) at those two moments: their CPU over the counted window.
 */
export async function measuredRun<T>(name: string, input: unknown, cpu: () => number[]): Promise<{ result: T; cpu: number[] }> {
  let atStart: number[] = [];
  let used: number[] = [];
  const result = await runWorker<T>(name, input, (message) => {
    if (message?.type === 'measuring') atStart = cpu();
    if (message?.type === 'measured') used = cpu().map((ms, i) => ms - (atStart[i] ?? ms));
  }).result;
  return { result, cpu: used };
}
