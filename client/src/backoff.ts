export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts: number;
  /** The first retry waits up to this long (default 200 ms); each later one up to twice as long. */
  baseDelayMs: number;
  /** No wait is longer than this (default 5 s). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 200, maxDelayMs: 5000 };

/** A random wait between half and all of the capped exponential step, so many clients do not retry in lockstep. */
export function backoffDelay(retry: RetryOptions, attempt: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * The wait before the next attempt: the jittered backoff, but no less than the
 * server's `Retry-After` (coming back sooner only adds load while it is full
 * or down) and no more than `maxDelayMs` (the caller's bound on one wait).
 */
export function retryDelay(retry: RetryOptions, attempt: number, serverWaitMs: number): number {
  return Math.min(retry.maxDelayMs, Math.max(backoffDelay(retry, attempt), serverWaitMs));
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date (RFC 9110); 0 when absent or unreadable. */
export function retryAfterMs(header: string | null): number {
  if (!header) return 0;
  // Headers.get has already stripped the whitespace HTTP allows around a value.
  if (/^\d+$/.test(header)) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      // Stryker disable next-line OptionalChaining: onAbort is only ever added to a signal, so there is one when it runs
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A fresh idempotency key; `getRandomValues` works in every browser context, `randomUUID` only in secure ones. */
export function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
