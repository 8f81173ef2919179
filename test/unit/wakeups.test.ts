import { describe, expect, it } from 'vitest';
import { decodeNotifications, encodeNotification, type Notification, stampFrom } from '../../src/wakeups/wakeups.js';

// What travels on the one channel comes back as it was sent: every kind of notification, alone or packed with
// others into one payload (src/wakeups/wakeups.ts). A kind the listener does not take back would be lost, and so
// would every notification packed with it.
const every: Notification[] = [
  { kind: 'append', session_id: 's-1', seq: 7 },
  { kind: 'live', session_id: 's-1', sid: 3, head: 7, type: 'token', data: { text: 'hé' } },
  { kind: 'activity', session_id: 's-1', sid: 3, head: 7, activity: { state: 'thinking' } as never },
  { kind: 'created', session_id: 's-2' },
  { kind: 'deleted', session_id: 's-2', sid: 4 },
  { kind: 'deleted', session_id: 's-3', sid: 5, reason: 'expired' },
  { kind: 'missed' },
];

describe('wakeup payloads', () => {
  it.each(every.map((notification) => [notification.kind, notification] as const))('a %s notification alone decodes as sent', (_kind, notification) => {
    const expected = notification.kind === 'append' ? { kind: 'append', session_id: 's-1', seq: 7 } : notification;
    expect(decodeNotifications(encodeNotification(notification))).toEqual([expected]);
  });

  it('every kind packed into one payload decodes as sent, in order', () => {
    const payload = `[${every.map(encodeNotification).join(',')}]`;
    expect(decodeNotifications(payload)).toEqual(every);
  });

  it('a live signal stamped with its instance keeps the stamp', () => {
    const live = every[1]!;
    expect(decodeNotifications(stampFrom(encodeNotification(live), 'inst-001'))).toEqual([{ ...live, from: 'inst-001' }]);
  });

  it('a payload that is not a notification, or an array with one such entry, yields nothing', () => {
    for (const payload of ['not json', '42', 'null', '{"kind":"unknown","session_id":"s"}', '{"seq":1}', `[${encodeNotification(every[0]!)},{"kind":"nope"}]`]) {
      expect(decodeNotifications(payload), payload).toBeUndefined();
    }
  });
});
