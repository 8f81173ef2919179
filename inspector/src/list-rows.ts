/**
 * What the session list shows of each session, and which sessions it shows:
 * the filters, a row's first user message, metadata, counts and activity,
 * the line under the list, where the arrow keys go. No DOM: list.ts draws it.
 */
import type { Session } from '../../client/src/types.js';
import { cut, jsonText, plural } from './format.js';

/** Characters of the first user message and of the metadata shown in a row (the session view shows them whole). */
export const FIRST_MESSAGE_CHARS = 120;
export const METADATA_CHARS = 120;

/** The filters as typed: an id prefix (applied here) and a parent id (the server's `parent_id`); spaces around either do not count. */
export interface Filters {
  prefix: string;
  parent: string;
}

export function matches(session: Pick<Session, 'id' | 'parent_id'>, filters: Filters): boolean {
  const parent = filters.parent.trim();
  if (parent && session.parent_id !== parent) return false;
  return session.id.startsWith(filters.prefix.trim());
}

/** Whether either filter holds anything. */
export function filtering(filters: Filters): boolean {
  return filters.prefix.trim() !== '' || filters.parent.trim() !== '';
}

/** The first user message as a row shows it (cut), or undefined before there is one. */
export function firstMessage(first: string | null | undefined): string | undefined {
  return first ? cut(first, FIRST_MESSAGE_CHARS) : undefined;
}

/** Metadata in a line, `key: value · key: value`, strings bare, anything else as JSON, cut short; with the whole as JSON for a tooltip. Undefined for none. */
export function metadataLine(metadata: unknown): { text: string; title: string } | undefined {
  if (!metadata || typeof metadata !== 'object') return undefined;
  const entries = Array.isArray(metadata) ? [['', metadata] as const] : Object.entries(metadata);
  if (entries.length === 0) return undefined;
  const line = entries.map(([key, value]) => `${key ? `${key}: ` : ''}${typeof value === 'string' ? value : jsonText(value, METADATA_CHARS)}`).join(' · ');
  return { text: cut(line, METADATA_CHARS), title: jsonText(metadata, 2000) };
}

/** ` · 3 messages` after the creation time, or undefined for none. */
export function messageCount(n: number | undefined): string | undefined {
  return n ? ` · ${plural(n, 'message')}` : undefined;
}

/** A session's activity as its row shows it. */
export interface ActivityCell {
  status: string;
  /** Whether the row shows the session at work (anything but idle). */
  busy: boolean;
  /** ` what it does`, when the activity says. */
  detail: string | undefined;
  /** ` (expired)`: no refresh within its ttl. */
  expired: string | undefined;
}

export function activityCell(activity: { status?: string; detail?: unknown; expired?: boolean } | null | undefined): ActivityCell {
  return {
    status: activity?.status ?? 'idle',
    busy: !(activity?.status === 'idle' || !activity),
    detail: activity?.detail !== undefined ? ` ${typeof activity.detail === 'string' ? activity.detail : JSON.stringify(activity.detail)}` : undefined,
    expired: activity?.expired ? ' (expired)' : undefined,
  };
}

/** A changes-feed activity hint's activity: the hint less its session id and type. */
export function activityOf(change: Record<string, unknown>): Record<string, unknown> {
  const { session_id: _id, type: _type, ...activity } = change;
  return activity;
}

/** The line under the list: how many rows, whether filtered, whether more are to read. */
export function listStatus(rows: number, filtered: boolean, more: boolean): string {
  const shown = `${plural(rows, 'session')}${filtered ? ' matching' : ''}`;
  return more ? `${shown} loaded; more below.` : `${shown}, all loaded.`;
}

/** Where a key moves the focus among `length` sessions from the one at `at`: the next, previous, first or last; undefined for other keys. */
export function moveTo(key: string, at: number, length: number): number | undefined {
  if (key === 'Home') return 0;
  if (key === 'End') return length - 1;
  if (key === 'ArrowDown') return Math.min(length - 1, at + 1);
  if (key === 'ArrowUp') return Math.max(0, at - 1);
  return undefined;
}
