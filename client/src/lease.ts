import { SessionSyncError } from './errors.js';
import type { AttachmentBody, Requests } from './requests.js';
import type { RequestOptions } from './transport.js';
import type { AnswerOf, BodyOf, LeaseGrant, LiveAnswer, LiveEvent, QueryOf } from './types.js';
import { PROBLEM } from './protocol.js';

export interface ClaimLeaseOptions {
  /** Who holds the lease, e.g. a worker id (shown to others in `lease.owner`). */
  owner: string;
  ttlMs: number;
  /** Renew automatically, a third of the TTL before expiry at the latest (default true). */
  renew?: boolean;
  /** Aborts the claim; aborted later, it stops the renewals and leaves the lease to run out on the server (`release()` gives it back at once). */
  signal?: AbortSignal;
}

export interface Lease {
  readonly token: string;
  readonly fencingToken: number;
  /** When the lease runs out unless renewed (moves with each renewal). */
  readonly expiresAt: Date;
  /**
   * Aborts when the lease is lost (renewal refused: `lease_lost`, or 404 for a deleted session; `lease_lost` on a
   * write; expiry without a renewal), with that `SessionSyncError` as its reason; and when `release()` is called,
   * with an `AbortError` DOMException: either way, work done under the lease should stop.
   */
  readonly signal: AbortSignal;
  /** The session's request API with this lease's `Lease-Token` on every write. */
  readonly session: LeasedSession;
  /** Renews now (the timer does this by itself while `renew` is on). */
  renew(): Promise<void>;
  /** Stops renewing, aborts `signal`, and gives the lease back; resolves even if it was already lost. */
  release(): Promise<void>;
}

type Opts = Omit<RequestOptions, 'leaseToken'>;

/** The request methods of one session, each carrying the lease token; a `lease_lost` answer aborts the lease. */
export interface LeasedSession {
  readonly id: string;
  getSession(options?: Opts): Promise<AnswerOf<'getSession'>>;
  updateSession(body: BodyOf<'updateSession'>, options?: Opts): Promise<AnswerOf<'updateSession'>>;
  sync(query?: QueryOf<'sync'>, options?: Opts): Promise<AnswerOf<'sync'>>;
  putSnapshot(body: BodyOf<'putSnapshot'>, options?: Opts): Promise<AnswerOf<'putSnapshot'>>;
  pushDelta(body: BodyOf<'pushDelta'>, options?: Opts): Promise<AnswerOf<'pushDelta'>>;
  appendEvents(body: BodyOf<'appendEvents'>, options?: Opts): Promise<AnswerOf<'appendEvents'>>;
  listEvents(query?: QueryOf<'listEvents'>, options?: Opts): Promise<AnswerOf<'listEvents'>>;
  setActivity(body: BodyOf<'setActivity'>, options?: Opts): Promise<AnswerOf<'setActivity'>>;
  publishLive(events: LiveEvent | Iterable<LiveEvent> | AsyncIterable<LiveEvent>, options?: Opts): Promise<LiveAnswer>;
  enqueue(body: BodyOf<'enqueue'>, options?: Opts): Promise<AnswerOf<'enqueue'>>;
  listQueue(query?: QueryOf<'listQueue'>, options?: Opts): Promise<AnswerOf<'listQueue'>>;
  claimQueue(body: BodyOf<'claimQueue'>, options?: Opts): Promise<AnswerOf<'claimQueue'> | null>;
  completeClaim(claimId: string, options?: Opts): Promise<AnswerOf<'completeClaim'>>;
  renewClaim(claimId: string, body?: BodyOf<'renewClaim'>, options?: Opts): Promise<AnswerOf<'renewClaim'>>;
  abandonClaim(claimId: string, options?: Opts): Promise<AnswerOf<'abandonClaim'>>;
  appendMessages(body: BodyOf<'appendMessages'>, options?: Opts): Promise<AnswerOf<'appendMessages'>>;
  listMessages(query?: QueryOf<'listMessages'>, options?: Opts): Promise<AnswerOf<'listMessages'>>;
  replaceMessageKind(kind: string, body: BodyOf<'replaceMessageKind'>, options?: Opts): Promise<AnswerOf<'replaceMessageKind'>>;
  trimMessages(body: BodyOf<'trimMessages'>, options?: Opts): Promise<AnswerOf<'trimMessages'>>;
  getMessagesMeta(options?: Opts): Promise<AnswerOf<'getMessagesMeta'>>;
  commitTurn(body: BodyOf<'commitTurn'>, options?: Opts): Promise<AnswerOf<'commitTurn'>>;
  uploadAttachment(bytes: AttachmentBody, options?: Opts & { contentType?: string }): Promise<AnswerOf<'uploadAttachment'>>;
  listAttachments(query?: QueryOf<'listAttachments'>, options?: Opts): Promise<AnswerOf<'listAttachments'>>;
  commitAttachment(attachmentId: string, options?: Opts): Promise<AnswerOf<'commitAttachment'>>;
  downloadAttachment(attachmentId: string, options?: Opts & { range?: { start: number; end?: number } }): Promise<Response>;
}

/** Claims a lease and keeps it: renewal on a timer, loss noticed from renewals, writes and the clock. */
export async function claimLease(requests: Requests, id: string, options: ClaimLeaseOptions): Promise<Lease> {
  // The server's TTL runs from when it took the claim, which is no earlier than this.
  const claimedAt = Date.now();
  const grant: LeaseGrant = await requests.claimLeaseOnce(
    id,
    { owner: options.owner, ttl_ms: options.ttlMs },
    options.signal ? { signal: options.signal } : {},
  );
  const lost = new AbortController();
  let expiresAt = new Date(grant.expires_at);
  let renewTimer: ReturnType<typeof setTimeout> | undefined;
  let expiryTimer: ReturnType<typeof setTimeout> | undefined;
  let released = false;
  const token = grant.token;

  // The end of the lease, however it ends: nothing left to renew or expire, and no hold on the caller's signal.
  const stopTimers = () => {
    clearTimeout(renewTimer);
    clearTimeout(expiryTimer);
    options.signal?.removeEventListener('abort', stopTimers);
  };
  const lose = (reason: SessionSyncError) => {
    // Stryker disable next-line ConditionalExpression: abort() on an aborted controller keeps the first reason and the timers are already stopped, so the guard only saves work
    if (lost.signal.aborted) return;
    stopTimers();
    lost.abort(reason);
  };
  // Measured on this machine's clock from when the answer arrived, so clock skew to the server does not matter.
  const armExpiry = (ttlMs: number) => {
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(
      () => lose(new SessionSyncError({ status: 409, code: PROBLEM.leaseLost, title: 'Lease expired', detail: `the lease on ${id} expired without a renewal` })),
      ttlMs,
    );
  };
  const scheduleRenewal = (delayMs = Math.max(10, options.ttlMs / 3)) => {
    if (options.renew === false || released || lost.signal.aborted) return;
    clearTimeout(renewTimer);
    renewTimer = setTimeout(() => {
      // A failed renewal is tried again soon (not a whole renewal period later); expiry, or a refusal, ends the lease.
      renew().catch(() => scheduleRenewal(Math.max(50, options.ttlMs / 10)));
    }, delayMs);
  };

  const watch = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (error) {
      if (error instanceof SessionSyncError && error.code === PROBLEM.leaseLost) lose(error);
      throw error;
    }
  };

  const renew = async (): Promise<void> => {
    if (lost.signal.aborted) throw lost.signal.reason;
    const started = Date.now();
    const answer = await watch(requests.renewLease(id, { ttl_ms: options.ttlMs }, { leaseToken: token })).catch((error: unknown) => {
      // The session was deleted, and its lease with it: no later renewal can succeed.
      if (error instanceof SessionSyncError && error.status === 404) lose(error);
      throw error;
    });
    expiresAt = new Date(answer.expires_at);
    // Released or lost while this renewal was on its way: the lease is over for this worker, whatever the server says.
    if (released || lost.signal.aborted) return;
    armExpiry(options.ttlMs - (Date.now() - started));
    scheduleRenewal();
  };

  armExpiry(options.ttlMs - (Date.now() - claimedAt));
  scheduleRenewal();
  options.signal?.addEventListener('abort', stopTimers);

  const o = <T extends Opts>(extra?: T) => ({ ...extra, leaseToken: token }) as T & RequestOptions;
  const session: LeasedSession = {
    id,
    getSession: (opt) => watch(requests.getSession(id, o(opt))),
    updateSession: (body, opt) => watch(requests.updateSession(id, body, o(opt))),
    sync: (query, opt) => watch(requests.sync(id, query, o(opt))),
    putSnapshot: (body, opt) => watch(requests.putSnapshot(id, body, o(opt))),
    pushDelta: (body, opt) => watch(requests.pushDelta(id, body, o(opt))),
    appendEvents: (body, opt) => watch(requests.appendEvents(id, body, o(opt))),
    listEvents: (query, opt) => watch(requests.listEvents(id, query, o(opt))),
    setActivity: (body, opt) => watch(requests.setActivity(id, body, o(opt))),
    publishLive: (events, opt) => watch(requests.publishLive(id, events, o(opt))),
    enqueue: (body, opt) => watch(requests.enqueue(id, body, o(opt))),
    listQueue: (query, opt) => watch(requests.listQueue(id, query, o(opt))),
    claimQueue: (body, opt) => watch(requests.claimQueue(id, body, o(opt))),
    completeClaim: (claimId, opt) => watch(requests.completeClaim(id, claimId, o(opt))),
    renewClaim: (claimId, body, opt) => watch(requests.renewClaim(id, claimId, body, o(opt))),
    abandonClaim: (claimId, opt) => watch(requests.abandonClaim(id, claimId, o(opt))),
    appendMessages: (body, opt) => watch(requests.appendMessages(id, body, o(opt))),
    listMessages: (query, opt) => watch(requests.listMessages(id, query, o(opt))),
    replaceMessageKind: (kind, body, opt) => watch(requests.replaceMessageKind(id, kind, body, o(opt))),
    trimMessages: (body, opt) => watch(requests.trimMessages(id, body, o(opt))),
    getMessagesMeta: (opt) => watch(requests.getMessagesMeta(id, o(opt))),
    commitTurn: (body, opt) => watch(requests.commitTurn(id, body, o(opt))),
    uploadAttachment: (bytes, opt) => watch(requests.uploadAttachment(id, bytes, o(opt))),
    listAttachments: (query, opt) => watch(requests.listAttachments(id, query, o(opt))),
    commitAttachment: (attachmentId, opt) => watch(requests.commitAttachment(id, attachmentId, o(opt))),
    downloadAttachment: (attachmentId, opt) => watch(requests.downloadAttachment(id, attachmentId, o(opt))),
  };

  return {
    token,
    fencingToken: grant.fencing_token,
    get expiresAt() {
      return expiresAt;
    },
    signal: lost.signal,
    session,
    renew,
    async release() {
      released = true;
      stopTimers();
      const gone = lost.signal.aborted;
      // Work still running under the lease stops before the lease is given back: after this, its writes would be refused.
      lost.abort(new DOMException(`the lease on ${id} was released`, 'AbortError'));
      if (gone) return;
      try {
        await requests.releaseLease(id, { leaseToken: token });
      } catch (error) {
        if (!(error instanceof SessionSyncError && (error.code === PROBLEM.leaseLost || error.status === 404))) throw error;
      }
    },
  };
}
