/**
 * Values as the page writes them: JSON cut to a length, counts, dollars,
 * sizes, times, how far off an expiry is. Text only, no DOM, so Node tests
 * (test/unit/inspector-format.test.ts) and mutation testing reach it.
 */

/** A JSON value as text; long text is cut with a note of how much more there is. */
export function jsonText(value: unknown, limit = 4000, space?: number): string {
  let text: string;
  try {
    text = value === undefined ? '' : JSON.stringify(value, null, space);
  } catch {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}… (${text.length - limit} more characters)` : text;
}

/** Text cut to `limit` characters, an ellipsis marking the cut. */
export function cut(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

/** `1 message`, `2 messages`: a count and its noun. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2026-12-03 12:03:04`, local time (undefined for text that is no time): a date is always there, so a day-old event never reads as today's. */
export function dateTime(iso: string): string | undefined {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return undefined;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `12:03:04.005`, local time: the moment this page saw something happen. */
export function moment(date: Date): string {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** 1234567 as `1,234,567`, the same on every machine (screenshots, tests). */
export function count(n: number): string {
  const whole = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${whole}` : whole;
}

/** A cost in US dollars as the workers reported it: cents for sums of a dollar or more, up to six decimals for the fractions of a cent one model call costs. */
export function usd(value: number): string {
  const size = Math.abs(value);
  const fixed = size.toFixed(size >= 1 ? 2 : 6).replace(/(\.\d\d)(\d*?)0+$/, '$1$2');
  // toFixed always writes a point.
  const [whole, fraction] = fixed.split('.') as [string, string];
  return `${value < 0 ? '-' : ''}$${count(Number(whole))}.${fraction}`;
}

/** The size in bytes of base64 text, its padding taken off. */
export function base64Bytes(base64: string): number {
  return Math.floor((base64.length * 3) / 4) - (base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** "in 12 s", "3 s ago": a lease's or claim's expiry relative to now. */
export function relative(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return '';
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
