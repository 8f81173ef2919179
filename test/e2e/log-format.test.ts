import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase } from '../helpers/db.js';
import { collected, spawnServer, type SpawnedServer, waitServerReady } from '../helpers/server-process.js';

// `npm start` as a person and as a log collector see it: readable lines on a
// terminal (a pseudo-terminal made by script(1)), one JSON object a line on a
// pipe or when LOG_FORMAT=json, and in both the start-up line names where to
// go: the inspector and the API reference.

/** The server under script(1): its stdout is a terminal; what it writes comes back through script's own stdout. */
function spawnOnTerminal(env: Record<string, string>): SpawnedServer {
  const command = `exec ${process.execPath} --import tsx src/main.ts`;
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collected(child);
}

/** Stops the server with SIGTERM (under script, the server is script's child: `exec` made the shell it) and returns its output. */
async function stop(running: SpawnedServer, underScript: boolean): Promise<string> {
  const pid = underScript ? Number(execFileSync('ps', ['-o', 'pid=', '--ppid', String(running.child.pid)], { encoding: 'utf8' }).trim()) : running.child.pid;
  process.kill(pid as number, 'SIGTERM');
  await running.exited;
  // Colours and the terminal's line endings aside, the text as a person reads it.
  // eslint-disable-next-line no-control-regex
  return running.output().replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');
}

async function serve(terminal: boolean, env: Record<string, string> = {}): Promise<{ lines: string[]; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const all = { LOG_LEVEL: 'info', PORT: String(port), DATABASE_URL: await createTestDatabase(), ...env };
  const running = terminal ? spawnOnTerminal(all) : spawnServer(all);
  try {
    await waitServerReady(base, running);
  } catch (error) {
    await stop(running, terminal).catch(() => {});
    throw error;
  }
  const lines = (await stop(running, terminal)).split('\n').filter((line) => line.trim() !== '');
  return { lines, base };
}

const startUp = (base: string) => `session-sync is serving ${base}: session inspector ${base}/inspect, API reference ${base}/docs, API ${base}/v1`;

describe('the server\'s logs', () => {
  it('on a pipe: one JSON object a line, the start-up line naming the inspector and the reference', async () => {
    const { lines, base } = await serve(false);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const line = records.find((record) => String(record.msg).startsWith('session-sync is serving'));
    expect(line).toMatchObject({ level: 30, msg: startUp(base), api: `${base}/v1`, docs: `${base}/docs`, inspect: `${base}/inspect` });
  }, 60_000);

  it('on a terminal: readable lines, time and level first, no JSON', async () => {
    const { lines, base } = await serve(true);
    expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO: ${startUp(base).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)));
    // The shutdown is told as a sentence too.
    expect(lines).toContainEqual(expect.stringMatching(/^\[[\d:.]+\] INFO: shutting down$/));
  }, 60_000);

  it('on a terminal with LOG_FORMAT=json: JSON, as asked', async () => {
    const { lines, base } = await serve(true, { LOG_FORMAT: 'json' });
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toContainEqual(expect.objectContaining({ msg: startUp(base) }));
  }, 60_000);
});
