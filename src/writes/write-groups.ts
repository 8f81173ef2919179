/**
 * Group commit: writes to different sessions that wait at the same moment
 * share one transaction.
 *
 * Why: a write alone pays BEGIN, its statements and a COMMIT (a WAL flush)
 * in round trips of its own, and Postgres pays a transaction's fixed costs
 * (snapshot, transaction id, commit record) for each. A group pays them once:
 * its writes run side by side on one connection, their statements pipelined,
 * so a group of sixteen takes about the round trips of one write.
 *
 * The rules:
 * - Never wait to batch. A write starts at once while fewer than
 *   `maxInFlight` write transactions run; only writes that arrive while they
 *   all run wait, and the next one to start takes every waiting write (up to
 *   `maxGroupSize`). Without concurrency nothing changes.
 * - Locks in one order. A group starts its writes in session id order, and
 *   each write's first statement locks its session row (or inserts it), so
 *   two groups (on two instances) take their rows in the same order and never
 *   deadlock on them. A session is in at most one group of a process: its
 *   writes reach this point one at a time (`SessionQueue`).
 * - No session stalls the others. A write transaction waits for a lock at
 *   most `lockWaitMs` (a session locked elsewhere, by a long transaction or
 *   another instance); past it, its writes run again outside the limit,
 *   each alone and waiting as long as it takes, as every write did before
 *   groups.
 * - A write that fails never fails its neighbours. The writes of a group share
 *   one transaction, so a failed one cannot be undone alone (a savepoint
 *   undoes what came after it, and here every write's statements are
 *   interleaved). Instead the group rolls back: a write refused by its own
 *   checks (an `ApiError`, e.g. a version conflict) gets its refusal, which
 *   its own session's rows decided; the others run again, as a group while
 *   every failure was such a refusal, each alone after any other error (a
 *   failed statement fails every statement after it, so whose it was is
 *   unknown; alone, it fails by itself). The writes' last statements (their
 *   inserts, once every check has passed) travel with the COMMIT instead of
 *   being awaited before it; if one fails there, Postgres rolls the COMMIT
 *   back, and the writes run again alone as after any other failure.
 * - Each write is answered after its own commit, and a failed COMMIT fails
 *   every write of its group: whether it committed is unknown, so none is
 *   run again.
 */
import type { Tx } from '../db/client.js';
import type { WriteConnection } from '../db/write-connection.js';
import { isPgError, isStatementError, PgError } from '../db/pg-errors.js';
import { boundLockWaits } from '../db/statements.js';
import { ApiError } from '../errors.js';
import { beginAndWake, type Begin, type Committer } from '../wakeups/publisher.js';

/** A write's answer, and statements it left in flight (`db/pipeline.ts`). */
interface Written {
  pending?: Promise<unknown>;
}

/** One write transaction: how many writes shared it, and how it ended. */
export interface GroupReport {
  writes: number;
  /** From BEGIN to the end of its COMMIT (or rollback). */
  seconds: number;
  /**
   * `rolled_back`: its writes failed (refused, or a statement or the COMMIT
   * failed); `rerun`: it rolled back and some of its writes run again.
   */
  outcome: 'committed' | 'rolled_back' | 'rerun';
}

export interface WriteGroupsOptions {
  /** Write transactions running at once; writes arriving past it wait and are grouped. */
  maxInFlight: number;
  /** Writes in one transaction at most. */
  maxGroupSize: number;
  /** The longest a write transaction under the limit waits for a lock before its writes run again alone. */
  lockWaitMs: number;
  /**
   * A connection of its own for each transaction under the limit (`maxInFlight`
   * of them), where a transaction's first statements follow its BEGIN without
   * waiting for its answer; without them, transactions begin on the pool.
   */
  connections?: WriteConnection[];
  onGroup?: (report: GroupReport) => void;
}

interface Waiting {
  sessionId: string;
  work: (tx: Tx) => Promise<Written>;
  resolve: (result: Written) => void;
  reject: (error: unknown) => void;
}

/**
 * Writes in one transaction at most. A group holds every one of its session
 * locks until its COMMIT, and after a failure runs its writes again: past a
 * few dozen writes a group saves no round trip worth that (it already pays
 * one BEGIN and one COMMIT for all of them).
 */
export const MAX_WRITES_PER_TRANSACTION = 64;

/**
 * A lock wait in a write transaction under the limit. A group holds its
 * locks for a few milliseconds (a few round trips), so a longer wait is a
 * session held by something else, which the write then waits for alone.
 */
export const GROUP_LOCK_WAIT_MS = 100;

/** Thrown inside a group's transaction to roll it back once one of its writes failed. */
const ROLL_BACK = Symbol('roll back the group');

/**
 * Statements sent with the COMMIT failed in Postgres, so the COMMIT rolled
 * back: Postgres aborts a transaction at its first failed statement and
 * answers a COMMIT in an aborted transaction with a rollback. Each write's
 * outcome is its statements' (an innocent one may have failed only because
 * an earlier statement aborted the transaction).
 */
class StatementsFailed extends Error {
  constructor(readonly outcomes: PromiseSettledResult<Written>[]) {
    super('statements sent with the COMMIT failed');
  }
}

/**
 * Awaits what the writes sent with the COMMIT. When any failed in Postgres,
 * nothing committed ({@link StatementsFailed}); a failure that did not come
 * from Postgres (a statement the driver never sent) says nothing of the
 * COMMIT, so it is thrown as it is and taken for a failed COMMIT.
 */
async function statementsSent(settled: PromiseSettledResult<Written>[]): Promise<void> {
  const sent = await Promise.allSettled(settled.map((outcome) => (outcome as PromiseFulfilledResult<Written>).value.pending));
  const failures = sent.filter((outcome) => outcome.status === 'rejected').map((outcome) => outcome.reason as unknown);
  if (failures.length === 0) return;
  if (!failures.some(isStatementError)) throw failures[0];
  throw new StatementsFailed(
    sent.map((outcome, index) => (outcome.status === 'rejected' ? outcome : (settled[index] as PromiseFulfilledResult<Written>))),
  );
}

/** The process's one gate to write transactions: see the module's comment. */
export class WriteGroups {
  private readonly waiting: Waiting[] = [];
  private running = 0;
  /** The write connections no running transaction holds. */
  private readonly free: WriteConnection[];

  constructor(
    private readonly committer: Committer,
    private readonly options: WriteGroupsOptions,
  ) {
    this.free = [...(options.connections ?? [])];
  }

  /**
   * Runs `work` in a transaction, maybe shared with writes to other sessions,
   * and answers once that transaction has committed and its wakeups are
   * queued. The caller runs one write per session at a time.
   */
  run<T extends Written>(sessionId: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ sessionId, work, resolve: resolve as Waiting['resolve'], reject });
      this.startGroups();
    });
  }

  /** Write transactions running under the limit now, and writes waiting for one (for tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  private startGroups(): void {
    while (this.running < this.options.maxInFlight && this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.options.maxGroupSize);
      this.running += 1;
      const connection = this.free.pop();
      const begin: Begin | undefined = connection && ((work, settled) => connection.begin(work, settled));
      void this.runGroup(group, begin).finally(() => {
        if (connection) this.free.push(connection);
        this.running -= 1;
        this.startGroups();
      });
    }
  }

  private async runGroup(group: Waiting[], begin: Begin | undefined): Promise<void> {
    // Stryker disable next-line EqualityOperator: `<=` is the same order, ids in a group are never equal (one write per session at a time)
    group.sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1));
    let settled: PromiseSettledResult<Written>[] = [];
    const began = performance.now();
    try {
      await beginAndWake(
        this.committer,
        async (tx) => {
          boundLockWaits(tx, this.options.lockWaitMs);
          // Every work starts before any is awaited: their statements share the connection's pipeline, in session order.
          settled = await Promise.allSettled(group.map(({ work }) => work(tx)));
          if (settled.some((outcome) => outcome.status === 'rejected')) throw ROLL_BACK;
        },
        // The writes' last statements travel with the COMMIT (`db/pipeline.ts`): one round trip less per group.
        () => statementsSent(settled),
        begin,
      );
    } catch (error) {
      if (error === ROLL_BACK) return this.afterRollback(group, settled, began, begin);
      if (error instanceof StatementsFailed) return this.afterRollback(group, error.outcomes, began, begin);
      // BEGIN or COMMIT failed: whether it committed is unknown.
      this.report(group.length, 'rolled_back', began);
      for (const write of group) write.reject(error);
      return;
    }
    this.report(group.length, 'committed', began);
    group.forEach((write, index) => write.resolve((settled[index] as PromiseFulfilledResult<Written>).value));
  }

  /** Refusals are answered; the other writes run again (see the module's comment). */
  private async afterRollback(group: Waiting[], settled: PromiseSettledResult<Written>[], began: number, begin: Begin | undefined): Promise<void> {
    const again: Waiting[] = [];
    let onlyRefusals = true;
    group.forEach((write, index) => {
      const outcome = settled[index]!;
      const refused = outcome.status === 'rejected' && outcome.reason instanceof ApiError;
      // Alone, a failure is the write's own, unless it only waited too long for a lock.
      const failedAlone = group.length === 1 && outcome.status === 'rejected' && !isPgError(outcome.reason, PgError.LOCK_NOT_AVAILABLE);
      if (refused || failedAlone) {
        write.reject((outcome as PromiseRejectedResult).reason);
        return;
      }
      if (outcome.status === 'rejected') onlyRefusals = false;
      again.push(write);
    });
    this.report(group.length, again.length > 0 ? 'rerun' : 'rolled_back', began);
    if (again.length === 0) return;
    if (onlyRefusals) return this.runGroup(again, begin);
    // Outside the limit: this slot is free for the next group while they run (or wait for their locks).
    for (const write of again) void this.runAlone(write);
  }

  private async runAlone(write: Waiting): Promise<void> {
    const began = performance.now();
    try {
      const result = await beginAndWake(this.committer, write.work, (sent) => sent.pending);
      this.report(1, 'committed', began);
      write.resolve(result);
    } catch (error) {
      this.report(1, 'rolled_back', began);
      write.reject(error);
    }
  }

  private report(writes: number, outcome: GroupReport['outcome'], began: number): void {
    this.options.onGroup?.({ writes, outcome, seconds: (performance.now() - began) / 1000 });
  }
}
