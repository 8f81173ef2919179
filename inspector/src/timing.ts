/** When the page acts on a burst of requests: once after quiet, or at most once per interval. No DOM. */

/** Calls `fn` once after `ms` of quiet, however often it was asked for. */
export function debounce(fn: () => void, ms: number): (() => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
  return Object.assign(call, { cancel: () => timer !== undefined && clearTimeout(timer) });
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
  return Object.assign(call, { cancel: () => timer !== undefined && clearTimeout(timer) });
}
