/**
 * The only way the inspector makes DOM: elements with text nodes. Nothing a
 * session holds ever reaches innerHTML (the page's CSP requires Trusted Types
 * with no policy, so the browser would refuse it anyway).
 */
import { CLIENT_ERROR, PROBLEM, SessionSyncError } from '@session-sync/client';

export type Child = Node | string | number | null | undefined | false | readonly Child[];

export interface Props {
  class?: string;
  /** Attributes set with setAttribute: never event handlers, never URLs from data. */
  attrs?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props?.class) element.className = props.class;
  for (const [name, value] of Object.entries(props?.attrs ?? {})) element.setAttribute(name, value);
  for (const [name, handler] of Object.entries(props?.on ?? {})) element.addEventListener(name, handler as EventListener);
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, ...(child as readonly Child[]));
    else parent.appendChild(typeof child === 'object' ? (child as Node) : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content (textContent for text: never parsed). */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** A link inside the page (hash routing): the id is encoded into the fragment, never used as a URL. */
export function sessionLink(id: string): HTMLAnchorElement {
  return h('a', { attrs: { href: `#/s/${encodeURIComponent(id)}` } }, id);
}

/** A JSON value as text; long text is cut with a note of how much more there is. */
export function jsonText(value: unknown, limit = 4000, space?: number): string {
  let text: string;
  try {
    text = value === undefined ? '' : typeof value === 'string' && space === undefined ? JSON.stringify(value) : JSON.stringify(value, null, space);
  } catch {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit)}… (${text.length - limit} more characters)` : text;
}

/** An error in words, as a person reads it. */
export function describeError(error: unknown): string {
  if (error instanceof SessionSyncError) {
    if (error.status === 0 && error.code === CLIENT_ERROR.networkError) return `cannot reach the server (${error.detail})`;
    return `${error.status ? `${error.status} ` : ''}${error.code}: ${error.detail}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2026-12-03 12:03:04`, local time, with the full ISO time as a tooltip: a date is always there, so a day-old event never reads as today's. */
export function timeOf(iso: string | null | undefined): HTMLTimeElement {
  if (!iso) return h('time', null, '');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('time', { attrs: { datetime: iso, title: iso } }, iso);
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return h('time', { attrs: { datetime: iso, title: iso } }, `${day} ${time}`);
}

/** The time of something this page saw happen (a live event, an activity change): to the millisecond, the date in the tooltip. */
export function momentOf(date: Date): HTMLTimeElement {
  const iso = date.toISOString();
  return h('time', { attrs: { datetime: iso, title: iso } }, `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`);
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
  const [whole = '0', fraction = '00'] = fixed.split('.');
  return `${value < 0 ? '-' : ''}$${count(Number(whole))}.${fraction}`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * What went wrong, in words a person reads without the API's contract at
 * hand, then the server's own code in brackets for whoever reports it.
 */
export function plainWords(error: unknown, session?: string): string {
  if (!(error instanceof SessionSyncError)) return describeError(error);
  const code = error.status ? `${error.status} ${error.code}` : error.code;
  const named = session === undefined ? 'this session' : `session "${session}"`;
  let words: string;
  if (error.status === 0 && error.code === CLIENT_ERROR.networkError) words = 'The server cannot be reached: it may be down or restarting.';
  else if (error.code === CLIENT_ERROR.sessionDeleted) words = `${named[0]!.toUpperCase()}${named.slice(1)} was deleted.`;
  else if (error.code === PROBLEM.sessionNotFound) words = `There is no ${named} on this server: it was never created, or it was deleted.`;
  else if (error.status === 401) words = 'The server refused the token: it is missing, has expired, or was not made for this server.';
  else if (error.status === 403) words = `The token does not allow reading ${named}.`;
  else if (error.code === PROBLEM.databaseUnavailable) words = 'The server cannot reach its database right now.';
  else if (error.status >= 500) words = `The server failed to answer: ${error.detail}`;
  else words = error.detail;
  return `${words} (${code})`;
}

/** "in 12 s", "3 s ago": a lease's or claim's expiry relative to now. */
export function relative(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return '';
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

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
