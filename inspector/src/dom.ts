/**
 * The only way the inspector makes DOM: elements with text nodes. Nothing a
 * session holds ever reaches innerHTML (the page's CSP requires Trusted Types
 * with no policy, so the browser would refuse it anyway).
 */
import { dateTime, moment } from './format.js';

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

/** A time as `dateTime` writes it, with the full ISO time as a tooltip. */
export function timeOf(iso: string | null | undefined): HTMLTimeElement {
  if (!iso) return h('time', null, '');
  return h('time', { attrs: { datetime: iso, title: iso } }, dateTime(iso) ?? iso);
}

/** The time of something this page saw happen (a live event, an activity change): to the millisecond, the date in the tooltip. */
export function momentOf(date: Date): HTMLTimeElement {
  const iso = date.toISOString();
  return h('time', { attrs: { datetime: iso, title: iso } }, moment(date));
}
