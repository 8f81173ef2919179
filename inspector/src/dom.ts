/**
 * The only way the inspector makes DOM: elements with text nodes. Nothing a
 * session holds ever reaches innerHTML (the page's CSP requires Trusted Types
 * with no policy, so the browser would refuse it anyway).
 */
import { CLIENT_ERROR, SessionSyncError } from '@session-sync/client';

export type Child = Node | string | number | null | undefined | false;

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
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
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

/** `12:03:04.567`, with the full ISO time as a tooltip. */
export function timeOf(iso: string | null | undefined): HTMLTimeElement {
  if (!iso) return h('time', null, '');
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString(undefined, { hour12: false }) + `.${String(date.getMilliseconds()).padStart(3, '0')}`;
  return h('time', { attrs: { datetime: iso, title: iso } }, text);
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
