import { describe, expect, it } from 'vitest';
import {
  activityCell,
  activityOf,
  FIRST_MESSAGE_CHARS,
  filtering,
  firstMessage,
  listStatus,
  matches,
  messageCount,
  METADATA_CHARS,
  metadataLine,
  moveTo,
} from '../../inspector/src/list-rows.js';

// The inspector's session list (docs/guide.md, Inspector): each row says what the session is about (its
// first user message, its metadata, when it was created, how many messages it holds); the list filters by
// parent (the server's parent_id) and by id prefix; the arrow keys, Home and End move between sessions.

describe('which sessions the list shows', () => {
  const paris = { id: 'trip:paris', parent_id: null };
  const fork = { id: 'trip:paris:2', parent_id: 'trip:paris' };

  it('keeps the sessions whose id starts with the prefix', () => {
    expect(matches(paris, { prefix: 'trip:', parent: '' })).toBe(true);
    expect(matches(paris, { prefix: 'trip:paris', parent: '' })).toBe(true);
    expect(matches(paris, { prefix: 'paris', parent: '' })).toBe(false);
    expect(matches(paris, { prefix: '', parent: '' })).toBe(true);
  });

  it('keeps only the children of the parent asked for', () => {
    expect(matches(fork, { prefix: '', parent: 'trip:paris' })).toBe(true);
    expect(matches(paris, { prefix: '', parent: 'trip:paris' })).toBe(false);
    expect(matches(fork, { prefix: '', parent: 'trip:' })).toBe(false);
    expect(matches(fork, { prefix: 'other', parent: 'trip:paris' })).toBe(false);
  });

  it('ignores spaces around what was typed', () => {
    expect(matches(fork, { prefix: '  trip:paris:  ', parent: ' trip:paris ' })).toBe(true);
    expect(matches(paris, { prefix: ' ', parent: '   ' })).toBe(true);
    expect(filtering({ prefix: ' ', parent: '  ' })).toBe(false);
    expect(filtering({ prefix: 'a', parent: '' })).toBe(true);
    expect(filtering({ prefix: '', parent: 'p' })).toBe(true);
  });
});

describe('a row', () => {
  it('shows the first user message once there is one, cut to fit', () => {
    expect(firstMessage(null)).toBeUndefined();
    expect(firstMessage(undefined)).toBeUndefined();
    expect(firstMessage('')).toBeUndefined();
    expect(firstMessage('Why is my invoice twice the quote?')).toBe('Why is my invoice twice the quote?');
    const exactly = 'a'.repeat(FIRST_MESSAGE_CHARS);
    expect(firstMessage(exactly)).toBe(exactly);
    expect(firstMessage(`${exactly}b`)).toBe(`${exactly}…`);
  });

  it('shows the metadata as key: value pairs, strings bare, other values as JSON, with all of it as a tooltip', () => {
    const metadata = { customer: 'acme', plan: 'pro', seats: 3, tags: ['vip'], trial: false, owner: null };
    expect(metadataLine(metadata)).toEqual({
      text: 'customer: acme · plan: pro · seats: 3 · tags: ["vip"] · trial: false · owner: null',
      title: '{"customer":"acme","plan":"pro","seats":3,"tags":["vip"],"trial":false,"owner":null}',
    });
  });

  it('shows no metadata line for a session without any', () => {
    for (const none of [null, undefined, {}, 'text', 7, true]) expect(metadataLine(none), JSON.stringify(none)).toBeUndefined();
    // Metadata that is a list shows as its JSON, with no key.
    expect(metadataLine(['a', 1])).toEqual({ text: '["a",1]', title: '["a",1]' });
  });

  it('cuts long metadata to fit, a long value first', () => {
    const long = metadataLine({ note: 'n'.repeat(200) })!;
    expect(long.text).toBe(`note: ${'n'.repeat(METADATA_CHARS - 6)}…`);
    expect(long.title).toBe(`{"note":"${'n'.repeat(200)}"}`);
    const nested = metadataLine({ deep: { list: 'x'.repeat(200) } })!;
    expect(nested.text).toBe(`deep: {"list":"${'x'.repeat(METADATA_CHARS - 15)}…`);
    const exactly = metadataLine({ k: 'v'.repeat(METADATA_CHARS - 3) })!;
    expect(exactly.text).toBe(`k: ${'v'.repeat(METADATA_CHARS - 3)}`);
    const title = metadataLine({ k: 't'.repeat(3000) })!.title;
    expect(title).toBe(`{"k":"${'t'.repeat(1994)}… (1008 more characters)`);
  });

  it('counts the messages after the creation time, none said by nothing', () => {
    expect(messageCount(0)).toBeUndefined();
    expect(messageCount(undefined)).toBeUndefined();
    expect(messageCount(1)).toBe(' · 1 message');
    expect(messageCount(12)).toBe(' · 12 messages');
  });

  it('shows the activity: idle, or what the session is doing, and whether it expired', () => {
    expect(activityCell(null)).toEqual({ status: 'idle', busy: false, detail: undefined, expired: undefined });
    expect(activityCell(undefined)).toEqual({ status: 'idle', busy: false, detail: undefined, expired: undefined });
    expect(activityCell({ status: 'idle' })).toEqual({ status: 'idle', busy: false, detail: undefined, expired: undefined });
    expect(activityCell({ status: 'thinking', detail: 'step 2 of 5' })).toEqual({ status: 'thinking', busy: true, detail: ' step 2 of 5', expired: undefined });
    expect(activityCell({ status: 'tool', detail: { name: 'search' }, expired: true })).toEqual({ status: 'tool', busy: true, detail: ' {"name":"search"}', expired: ' (expired)' });
    expect(activityCell({ status: 'idle', detail: null, expired: false })).toEqual({ status: 'idle', busy: false, detail: ' null', expired: undefined });
  });

  it('takes an activity hint of the changes feed for the session\'s activity', () => {
    expect(activityOf({ session_id: 'trip:paris', type: 'session.activity', status: 'thinking', detail: 'x', ttl_ms: 5000 })).toEqual({ status: 'thinking', detail: 'x', ttl_ms: 5000 });
  });
});

describe('the line under the list', () => {
  it('says how many sessions are shown, whether filtered, and whether more are to read', () => {
    expect(listStatus(0, false, false)).toBe('0 sessions, all loaded.');
    expect(listStatus(1, false, false)).toBe('1 session, all loaded.');
    expect(listStatus(50, false, true)).toBe('50 sessions loaded; more below.');
    expect(listStatus(3, true, false)).toBe('3 sessions matching, all loaded.');
    expect(listStatus(1, true, true)).toBe('1 session matching loaded; more below.');
  });
});

describe('moving between sessions by keyboard', () => {
  it('goes down, up, to the first and the last, and stops at either end', () => {
    expect(moveTo('ArrowDown', 0, 3)).toBe(1);
    expect(moveTo('ArrowDown', 2, 3)).toBe(2);
    expect(moveTo('ArrowUp', 2, 3)).toBe(1);
    expect(moveTo('ArrowUp', 0, 3)).toBe(0);
    expect(moveTo('Home', 2, 3)).toBe(0);
    expect(moveTo('End', 0, 3)).toBe(2);
    expect(moveTo('ArrowDown', 0, 1)).toBe(0);
  });

  it('leaves every other key alone', () => {
    for (const key of ['Enter', ' ', 'Tab', 'ArrowLeft', 'a']) expect(moveTo(key, 1, 3), key).toBeUndefined();
  });
});
