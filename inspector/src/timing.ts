/** When the page acts on a burst of requests: once after quiet, or at most once per interval. No DOM. */

/** Calls `fn` once after `ms` of quiet, however often it was asked for. */
export function debounce(fn: () => void, ms: number): (() => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  return Object.assign(call, { cancel: () => clearTimeout(timer) });
}

/** Calls `fn` at most once per `ms`, always after the latest request (a steady stream of requests cannot starve it). */
export function throttle(fn: () => void, ms: number): (() => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
  // Cancelled while a call is pending, it never calls again: it is cancelled when its view closes.
  return Object.assign(call, { cancel: () => clearTimeout(timer) });
}
