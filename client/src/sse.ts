import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { retryAfterMs, retryDelay, type RetryOptions, sleep } from './backoff.js';
import { SessionSyncError } from './errors.js';
import type { Transport } from './transport.js';
import { HEADER } from './protocol.js';

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What one connection attempt is told to do by the caller. */
export interface ConnectionPlan {
  path: string;
  query: Record<string, string | number | boolean | undefined>;
}

export interface StreamLoopOptions {
  transport: Transport;
  /** Called before every connection attempt: the cursor may have moved. */
  plan: () => ConnectionPlan;
  /**
   * One parsed SSE message. Returning 'close' ends the loop for good;
   * 'reconnect' ends this connection and opens the next at once (a fresh plan and token).
   */
  onMessage: (message: EventSourceMessage) => 'close' | 'reconnect' | void;
  /** The server answered with a stream (status 200). */
  onOpen?: () => void;
  /**
   * A non-200 answer. Return 'retry' to reconnect at once (after a cursor
   * change, say), 'backoff' to reconnect after a wait, 'close' to end.
   */
  onRefused: (error: SessionSyncError) => 'retry' | 'backoff' | 'close';
  /** The server ended the stream cleanly; return 'close' to stop (a `live=false` replay), else it reconnects. */
  onEnd?: () => 'close' | void;
  onStatus: (status: StreamStatus) => void;
  /** A refusal that ends the loop. */
  onError: (error: unknown) => void;
  idleTimeoutMs: number;
  retry: RetryOptions;
  signal?: AbortSignal | undefined;
}

export interface StreamLoop {
  readonly status: StreamStatus;
  close(): void;
  /** Settles when the loop has ended. */
  readonly done: Promise<void>;
}

/**
 * A Server-Sent Events stream read with `fetch` (so `Authorization` works)
 * and parsed by eventsource-parser, reconnecting by itself after any drop:
 * network errors, the server ending the stream, or a connection that sent
 * nothing, not even a heartbeat, for `idleTimeoutMs`. Waits between attempts
 * are jittered and bounded, and reset once a connection delivered something;
 * after a refusal they are no shorter than its `Retry-After` (still at most
 * `retry.maxDelayMs`).
 */
export function runStream(options: StreamLoopOptions): StreamLoop {
  const stop = new AbortController();
  let status: StreamStatus = 'connecting';
  const setStatus = (next: StreamStatus) => {
    if (status === next) return;
    status = next;
    callHandler(() => options.onStatus(next));
  };
  const close = () => stop.abort(new DOMException('closed', 'AbortError'));
  const onOuterAbort = () => close();
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal fires 'abort' once at most, and the loop removes the listener when it ends
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) close();

  const done = (async () => {
    callHandler(() => options.onStatus(status));
    let failures = 0;
    while (!stop.signal.aborted) {
      // connectOnce never rejects: whatever goes wrong in an attempt is its outcome.
      const outcome = await connectOnce(options, stop.signal, () => {
        failures = 0;
        setStatus('open');
      });
      if (stop.signal.aborted) break;
      if (outcome.kind === 'close') break;
      // A dropped connection is not reported as an error: the status says it, and the loop recovers.
      setStatus('reconnecting');
      if (outcome.kind === 'retry') continue;
      const serverWaitMs = outcome.kind === 'backoff' ? outcome.serverWaitMs : 0;
      // A wait cut short by close() rejects; the loop's condition then ends the loop.
      await sleep(retryDelay(options.retry, failures++, serverWaitMs), stop.signal).catch(() => {});
    }
    options.signal?.removeEventListener('abort', onOuterAbort);
    setStatus('closed');
  })();

  return {
    get status() {
      return status;
    },
    close,
    done,
  };
}

/**
 * Runs a caller's handler. A handler that throws is the caller's bug: it is
 * reported like an uncaught error, from a timer of its own, and the stream
 * goes on as if it had returned. Were the throw to reach the loop, a throwing
 * onError would turn the refusal that ended a stream into a drop, and the
 * loop would reconnect to be refused again, forever.
 */
export function callHandler<T>(handler: () => T): T | undefined {
  try {
    return handler();
  } catch (error) {
    setTimeout(() => {
      throw error;
    });
    return undefined;
  }
}

type Outcome =
  | { kind: 'close' }
  | { kind: 'retry' }
  /** serverWaitMs: the refusal's Retry-After (0 without one, or when the stream dropped). */
  | { kind: 'backoff'; serverWaitMs: number }
  | { kind: 'error'; error: unknown };

async function connectOnce(options: StreamLoopOptions, stop: AbortSignal, onData: () => void): Promise<Outcome> {
  const { transport } = options;
  const attempt = new AbortController();
  const onStop = () => attempt.abort(stop.reason);
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal fires 'abort' once at most, and the finally below removes the listener
  stop.addEventListener('abort', onStop, { once: true });
  let idle: ReturnType<typeof setTimeout> | undefined;
  const armWatchdog = () => {
    clearTimeout(idle);
    idle = setTimeout(() => attempt.abort(new DOMException('no data within idleTimeoutMs', 'TimeoutError')), options.idleTimeoutMs);
  };
  try {
    const plan = options.plan();
    armWatchdog();
    const response = await transport.fetch(transport.url(plan.path, plan.query), {
      headers: { accept: 'text/event-stream', ...(await transport.authHeaders()) },
      signal: attempt.signal,
    });
    if (response.status !== 200 || !response.body) {
      const error = await SessionSyncError.fromResponse(response);
      const verdict = options.onRefused(error);
      if (verdict === 'close') {
        callHandler(() => options.onError(error));
        return { kind: 'close' };
      }
      if (verdict === 'retry') return { kind: 'retry' };
      // A stream refused for load (503 too_many_streams) that came back sooner than asked would add to that load.
      return { kind: 'backoff', serverWaitMs: retryAfterMs(response.headers.get(HEADER.retryAfter)) };
    }
    options.onOpen?.();
    let closeRequested = false;
    let reconnectRequested = false;
    const parser = createParser({
      onEvent: (message) => {
        if (closeRequested || reconnectRequested) return;
        onData();
        const verdict = callHandler(() => options.onMessage(message));
        if (verdict === 'close') closeRequested = true;
        if (verdict === 'reconnect') reconnectRequested = true;
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armWatchdog();
        parser.feed(value);
        if (closeRequested) return { kind: 'close' };
        if (reconnectRequested) return { kind: 'retry' };
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    // Stryker disable next-line OptionalChaining: without an onEnd (watchChanges) the TypeError would be caught below as a drop, which waits the same backoff
    if (options.onEnd?.() === 'close') return { kind: 'close' };
    // Stryker disable next-line ObjectLiteral,StringLiteral: the loop tells outcomes apart by 'close' and 'retry' only, and waits the plain backoff after any other, as after this one
    return { kind: 'backoff', serverWaitMs: 0 };
  } catch (error) {
    // Closed meanwhile: the loop sees that before it looks at the outcome.
    // Stryker disable next-line ObjectLiteral,StringLiteral: the loop tells outcomes apart by 'close' and 'retry' only, and waits the plain backoff after any other, as after this one
    return { kind: 'error', error: attempt.signal.aborted ? attempt.signal.reason : error };
  } finally {
    clearTimeout(idle);
    stop.removeEventListener('abort', onStop);
  }
}
