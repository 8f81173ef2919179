// Where wakeups come from (issue 27): NOTIFY after commit, as the server does,
// against logical decoding (reading the sessions rows' updates from the WAL).
// Same append load for both, alternating rounds so a shared machine's slow
// spells hit every variant; prints a table, writes bench/out/wal-wakeups.json.
//
//   nice -n 19 npx tsx bench/wal-wakeups.ts [--rounds 8] [--seconds 4] [--writers 16]   (about 6 minutes on 2 cores)
//
// Two embedded PostgreSQL clusters run side by side: one as shipped
// (wal_level=replica, what today's design needs) and one with wal_level=logical
// (what decoding needs; a restart to set). Variants:
//   a         writes without NOTIFY + the server's WakeupPublisher (coalesced
//             {session_id, seq}, one NOTIFY transaction per 10 ms at most) +
//             one LISTEN connection; on wal_level=replica.
//   a@0ms     the same, flushes back to back: what the 10 ms spacing costs in latency.
//   a@logical the same on the wal_level=logical cluster: what the WAL level
//             alone costs.
//   b         writes without any NOTIFY; one consumer reading the sessions
//             table's updates (sid, id, last_seq) through a pgoutput
//             publication with postgres.js `subscribe` (temporary slot).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';
import { cpuMsOf, percentile, ROOT, runWorker, sleep } from './lib.js';
import type { ConsumerResult } from './workers/wakeup-consumer.js';
import type { WritersResult } from './workers/wakeup-writers.js';

const args = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '4' },
    writers: { type: 'string', default: '16' },
  },
}).values;
const ROUNDS = Number(args.rounds);
const DURATION_MS = Number(args.seconds) * 1000;
const WRITERS = Number(args.writers);
const WARMUP_MS = 1000;
const PUBLICATION = 'session_sync_wakeups';

interface Cluster {
  name: string;
  pg: EmbeddedPostgresHandle;
  dataDir: string;
  sql: postgres.Sql;
}

interface Variant {
  key: 'a' | 'a@0ms' | 'a@logical' | 'b';
  label: string;
  cluster: Cluster;
  publish: boolean;
  /** The publisher's spacing between flushes (the server's MIN_FLUSH_INTERVAL_MS unless set). */
  flushIntervalMs?: number;
  consumer: 'listen' | 'wal';
}

/** One round of one variant. */
interface Round {
  variant: string;
  round: number;
  appends: number;
  seconds: number;
  postgresCpuMs: number;
  walsenderCpuMs: number;
  /** Cluster processes that ended inside the counted window (their CPU there is not counted). */
  endedInWindow: string[];
  consumerCpuMs: number;
  writerCpuMs: number;
  walBytes: number;
  latenciesMs: number[];
  lost: number;
  notifyTransactions: number;
  consumerMessages: number;
}

const TICKS = 100; // USER_HZ

/** CPU ms of each process of a cluster (its postmaster and every child), by pid, with its title. */
type ClusterCpu = Map<number, { ms: number; title: string }>;

/**
 * A cluster's processes and their CPU: backends, walsender, checkpointer...,
 * not other people's Postgres on this machine.
 */
function clusterCpu(dataDir: string): ClusterCpu {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const out: ClusterCpu = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) !== postmaster && Number(fields[1]) !== postmaster) continue;
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      out.set(Number(entry), { ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS, title });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU used between two samples, per process: a process that ended between
 * them counts nothing (the previous round's backends still exiting would
 * otherwise take their whole past CPU out of the sum), one that started
 * counts all it used. The walsender's share (the decoding) apart.
 */
function cpuBetween(start: ClusterCpu, end: ClusterCpu): { total: number; walsender: number; ended: string[] } {
  let total = 0;
  let walsender = 0;
  for (const [pid, { ms, title }] of end) {
    const used = ms - (start.get(pid)?.ms ?? 0);
    total += used;
    if (title.startsWith('postgres: walsender')) walsender += used;
  }
  const ended = [...start].filter(([pid]) => !end.has(pid)).map(([, { ms, title }]) => `${title} (${ms} ms)`);
  return { total, walsender, ended };
}

async function startCluster(root: string, name: string, settings: Record<string, string>): Promise<Cluster> {
  const dataDir = path.join(root, name);
  const pg = await startEmbeddedPostgres({ dataDir, database: 'bench' });
  if (Object.keys(settings).length > 0) {
    const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
    for (const [key, value] of Object.entries(settings)) await admin.unsafe(`alter system set ${key} = '${value}'`);
    await admin.end();
    // wal_level (and the sender and slot limits) take effect only at server start.
    await pg.stop();
    await pg.start();
  }
  await runMigrations(pg.url);
  const sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  return { name, pg, dataDir, sql };
}

async function walLsn(sql: postgres.Sql): Promise<string> {
  const [row] = await sql`select pg_current_wal_lsn()::text as lsn`;
  return String(row!.lsn);
}

/**
 * Commit-to-receipt latency of every commit in [from, to): the first receipt
 * of its session carrying its seq or a later one (a coalesced wakeup covers
 * every seq up to its own). A commit never covered is lost.
 */
function latencies(commits: WritersResult['commits'], receipts: ConsumerResult['receipts'], from: number, to: number) {
  const out: number[] = [];
  let lost = 0;
  let appends = 0;
  for (const [id, list] of Object.entries(commits)) {
    const got = [...(receipts[id] ?? [])].sort((x, y) => x[1] - y[1]);
    const covered: number[] = [];
    let max = 0;
    for (const [seq] of got) covered.push((max = Math.max(max, seq)));
    let j = 0;
    for (const [seq, at] of [...list].sort((x, y) => x[0] - y[0])) {
      while (j < got.length && covered[j]! < seq) j++;
      if (at < from || at >= to) continue;
      appends++;
      if (j === got.length) lost++;
      else out.push(got[j]![1] - at);
    }
  }
  return { latencies: out, lost, appends };
}

let sessionCounter = 0;

async function runRound(variant: Variant, round: number): Promise<Round> {
  const { sql, dataDir } = variant.cluster;
  const ids = Array.from({ length: WRITERS }, (_, i) => `wal-${variant.key}-${round}-${i}-${sessionCounter++}`);
  const sessions = (await sql`insert into sessions (id) select unnest(${ids}::text[]) returning sid, id`).map((r) => ({ sid: Number(r.sid), id: String(r.id) }));

  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const consumer = runWorker<ConsumerResult>(
    'wakeup-consumer',
    { dbUrl: variant.cluster.pg.url, mode: variant.consumer, publication: variant.consumer === 'wal' ? PUBLICATION : undefined },
    (message) => message?.type === 'ready' && markReady(),
  );
  await Promise.race([ready, consumer.result]);
  const consumerPid = consumer.child.pid ?? 0;

  type Sample = { pg: ClusterCpu; consumer: number; lsn: Promise<string> };
  let atStart: Sample | undefined;
  let atEnd: Sample | undefined;
  const sample = (): Sample => ({ pg: clusterCpu(dataDir), consumer: cpuMsOf(consumerPid), lsn: walLsn(sql) });
  const writers = await runWorker<WritersResult>(
    'wakeup-writers',
    { dbUrl: variant.cluster.pg.url, sessions, warmupMs: WARMUP_MS, durationMs: DURATION_MS, publish: variant.publish, flushIntervalMs: variant.flushIntervalMs },
    (message, child) => {
      if (message?.type === 'measuring') atStart = sample();
      if (message?.type === 'measured') {
        atEnd = sample();
        child.send({ type: 'sampled' });
      }
    },
  ).result;
  // What committed last still has to arrive.
  await sleep(500);
  consumer.child.send({ type: 'stop' });
  const received = await consumer.result;
  if (!atStart || !atEnd) throw new Error('the writers never reported their counted window');
  const pgCpu = cpuBetween(atStart.pg, atEnd.pg);
  const [lsnStart, lsnEnd] = await Promise.all([atStart.lsn, atEnd.lsn]);
  const [diff] = await sql`select pg_wal_lsn_diff(${lsnEnd}::pg_lsn, ${lsnStart}::pg_lsn)::float8 as bytes`;
  const { latencies: lat, lost, appends } = latencies(writers.commits, received.receipts, writers.windowStart, writers.windowEnd);
  return {
    variant: variant.key,
    round,
    appends,
    seconds: (writers.windowEnd - writers.windowStart) / 1000,
    postgresCpuMs: pgCpu.total,
    walsenderCpuMs: pgCpu.walsender,
    endedInWindow: pgCpu.ended,
    consumerCpuMs: atEnd.consumer - atStart.consumer,
    writerCpuMs: writers.cpuMs,
    walBytes: Number(diff!.bytes),
    latenciesMs: lat,
    lost,
    notifyTransactions: writers.notifyTransactions,
    consumerMessages: received.messages,
  };
}

const median = (xs: number[]) => percentile([...xs].sort((x, y) => x - y), 0.5);

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-wal-'));
  const clusters: Cluster[] = [];
  try {
    const replica = await startCluster(root, 'replica', {});
    clusters.push(replica);
    const logical = await startCluster(root, 'logical', { wal_level: 'logical', max_wal_senders: '10', max_replication_slots: '10' });
    clusters.push(logical);
    for (const c of clusters) {
      const [row] = await c.sql`select current_setting('wal_level') as wal_level, current_setting('server_version') as version`;
      console.log(`cluster ${c.name}: PostgreSQL ${row!.version}, wal_level=${row!.wal_level}`);
    }
    // Only what a wakeup needs: the key, the id and the head, of updates.
    await logical.sql.unsafe(`create publication ${PUBLICATION} for table sessions (sid, id, last_seq) with (publish = 'update')`);

    const variants: Variant[] = [
      { key: 'a', label: 'NOTIFY after commit (today), wal_level=replica', cluster: replica, publish: true, consumer: 'listen' },
      { key: 'a@0ms', label: 'NOTIFY after commit, flushes back to back, wal_level=replica', cluster: replica, publish: true, flushIntervalMs: 0, consumer: 'listen' },
      { key: 'a@logical', label: 'NOTIFY after commit, wal_level=logical', cluster: logical, publish: true, consumer: 'listen' },
      { key: 'b', label: 'logical decoding (pgoutput, subscribe)', cluster: logical, publish: false, consumer: 'wal' },
    ];
    console.log(`${ROUNDS} rounds x ${variants.length} variants x ${DURATION_MS / 1000} s (+${WARMUP_MS / 1000} s warm-up), ${WRITERS} writers, order rotated each round`);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < variants.length; k++) {
        const variant = variants[(k + r) % variants.length]!;
        const result = await runRound(variant, r);
        rounds.push(result);
        const sorted = [...result.latenciesMs].sort((x, y) => x - y);
        console.log(
          `  round ${r + 1} ${variant.key.padEnd(9)} ${(result.appends / result.seconds).toFixed(0)} appends/s, ` +
            `pg ${(result.postgresCpuMs / result.appends).toFixed(3)} ms/append (walsender ${(result.walsenderCpuMs / result.appends).toFixed(3)}), p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms, lost ${result.lost}` +
            (result.endedInWindow.length ? `, ended in window: ${result.endedInWindow.join('; ')}` : ''),
        );
      }
    }

    const summary = variants.map((v) => {
      const mine = rounds.filter((x) => x.variant === v.key);
      const sum = (f: (x: Round) => number) => mine.reduce((acc, x) => acc + f(x), 0);
      const appends = sum((x) => x.appends);
      const lat = mine.flatMap((x) => x.latenciesMs).sort((x, y) => x - y);
      // Per round against variant a of the same round (a slow spell hits both): median and range.
      const vsA = (f: (x: Round) => number) => {
        const ratios = mine.map((x) => f(x) / f(rounds.find((y) => y.variant === 'a' && y.round === x.round)!)).sort((x, y) => x - y);
        return { median: median(ratios), min: ratios[0] ?? NaN, max: ratios.at(-1) ?? NaN };
      };
      const allCpu = (x: Round) => x.postgresCpuMs + x.writerCpuMs + x.consumerCpuMs;
      return {
        variant: v.key,
        label: v.label,
        appendsPerSecond: appends / sum((x) => x.seconds),
        throughputVsA: vsA((x) => x.appends / x.seconds),
        postgresCpuMsPerAppend: sum((x) => x.postgresCpuMs) / appends,
        postgresCpuVsA: vsA((x) => x.postgresCpuMs / x.appends),
        walsenderCpuMsPerAppend: sum((x) => x.walsenderCpuMs) / appends,
        writerCpuMsPerAppend: sum((x) => x.writerCpuMs) / appends,
        consumerCpuMsPerAppend: sum((x) => x.consumerCpuMs) / appends,
        allCpuMsPerAppend: sum(allCpu) / appends,
        allCpuVsA: vsA((x) => allCpu(x) / x.appends),
        latencyP50Ms: percentile(lat, 0.5),
        latencyP99Ms: percentile(lat, 0.99),
        latencyMinMs: lat[0] ?? NaN,
        walBytesPerAppend: sum((x) => x.walBytes) / appends,
        lost: sum((x) => x.lost),
        notifyTransactionsPerAppend: sum((x) => x.notifyTransactions) / appends,
        consumerMessagesPerAppend: sum((x) => x.consumerMessages) / appends,
      };
    });

    const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
    const r = (x: { median: number; min: number; max: number }) => `${f(x.median, 2)} (${f(x.min, 2)}-${f(x.max, 2)})`;
    const header = [
      'variant',
      'appends/s',
      'vs a, per round',
      'PG CPU ms/append',
      'of it walsender',
      'PG CPU vs a',
      'writer CPU',
      'consumer CPU',
      'all CPU ms/append',
      'all CPU vs a',
      'p50 ms',
      'p99 ms',
      'WAL B/append',
      'lost',
      'NOTIFY tx/append',
    ];
    const table = summary.map((x) => [
      x.variant,
      f(x.appendsPerSecond, 0),
      r(x.throughputVsA),
      f(x.postgresCpuMsPerAppend, 3),
      f(x.walsenderCpuMsPerAppend, 3),
      r(x.postgresCpuVsA),
      f(x.writerCpuMsPerAppend, 3),
      f(x.consumerCpuMsPerAppend, 3),
      f(x.allCpuMsPerAppend, 3),
      r(x.allCpuVsA),
      f(x.latencyP50Ms, 2),
      f(x.latencyP99Ms, 2),
      f(x.walBytesPerAppend, 0),
      String(x.lost),
      f(x.notifyTransactionsPerAppend, 3),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
    console.log('');
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const row of table) console.log(line(row));
    console.log(
      '\nShared 2-core machine, everything niced: compare variants by the per-round ratios, not by absolute figures.' +
        '\nvs a: the median (and range) over rounds of the ratio to variant a in the same round.' +
        '\nwriter CPU includes the publisher in a; consumer CPU is the LISTEN or subscribe process; PG CPU is the cluster\'s own processes (walsender included).' +
        '\nLatency: writer\'s commit acknowledgement to the consumer\'s receipt of that seq or a later one (same clock); b may receive before the writer sees its COMMIT answer.',
    );

    const out = path.join(ROOT, 'bench/out/wal-wakeups.json');
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(
      out,
      `${JSON.stringify(
        {
          at: new Date().toISOString(),
          settings: { rounds: ROUNDS, durationMs: DURATION_MS, warmupMs: WARMUP_MS, writers: WRITERS, cores: os.cpus().length },
          summary,
          rounds: rounds.map(({ latenciesMs, ...rest }) => {
            const sorted = [...latenciesMs].sort((x, y) => x - y);
            return { ...rest, latencyP50Ms: percentile(sorted, 0.5), latencyP99Ms: percentile(sorted, 0.99) };
          }),
        },
        null,
        2,
      )}\n`,
    );
    console.log(`wrote ${path.relative(ROOT, out)}`);
  } finally {
    for (const c of clusters) {
      await c.sql.end({ timeout: 1 });
      await c.pg.stop().catch(() => {});
    }
    await rm(root, { recursive: true, force: true });
  }
}

await main();
