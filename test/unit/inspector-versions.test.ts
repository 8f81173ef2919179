import { describe, expect, it } from 'vitest';
import { SessionSyncError } from '../../client/src/index.js';
import { type AtVersion, RECORDED_VERSIONS, stateOf, versionOf, Versions } from '../../inspector/src/versions.js';

// The inspector's time travel and diffs (docs/guide.md, Comparing versions): versions the page saw since it
// opened are exact; older ones are read from the server's time travel (`?at_version=`, docs/API.md, State
// sync), and once history was trimmed past a version the page says it is no longer kept instead of guessing.

const never = async (): Promise<AtVersion> => {
  throw new Error('the server was asked');
};

describe('the state at a version', () => {
  it('is what this page recorded, when it saw that version', async () => {
    const versions = new Versions();
    versions.record(3, { days: ['Mon'] });
    versions.record(4, { days: ['Mon', 'Tue'] });
    expect(await versions.at(3, 4, never)).toEqual({ state: { days: ['Mon'] }, source: 'as this page saw it', seen: true });
    expect(versions.note(3, await versions.at(3, 4, never))).toBe('Version 3 as this page saw it (it records every version from 3 on, since it opened).');
  });

  it('is no state at version 0, as recorded', async () => {
    const versions = new Versions();
    versions.record(0, null);
    expect(await versions.at(0, 2, never)).toEqual({ state: null, source: 'as this page saw it', seen: true });
  });

  it('keeps the first state seen at a version', async () => {
    const versions = new Versions();
    expect(versions.record(5, { a: 1 })).toBe(true);
    expect(versions.record(5, { a: 2 })).toBe(false);
    expect((await versions.at(5, 5, never)).state).toEqual({ a: 1 });
  });

  it('does not exist past the head', async () => {
    const versions = new Versions();
    versions.record(9, {});
    await expect(versions.at(10, 9, never)).rejects.toThrow('Version 10 does not exist yet (the head is 9).');
    await expect(versions.at(9, 9, never)).resolves.toMatchObject({ seen: true });
  });

  it('is rebuilt from the server\'s snapshot and the deltas after it, for a version the page did not see', async () => {
    const versions = new Versions();
    versions.record(8, {});
    const asked: number[] = [];
    const read = async (version: number): Promise<AtVersion> => {
      asked.push(version);
      return {
        mode: 'snapshot',
        snapshot: { days: [], budget: 1200 },
        deltas: [{ patch: [{ op: 'add', path: '/days/-', value: 'old town' }] }, { merge_patch: { budget: 1080, note: 'on foot' } }, { patch: [{ op: 'remove', path: '/note' }] }],
      };
    };
    const found = await versions.at(4, 8, read);
    expect(asked).toEqual([4]);
    expect(found).toEqual({ state: { days: ['old town'], budget: 1080 }, source: 'from the server, ?at_version=4', seen: false });
    expect(versions.note(4, found)).toBe('Version 4 from the server, ?at_version=4.');
  });

  it('says a version the server no longer keeps was trimmed, and from which version the page has them', async () => {
    const expired = new SessionSyncError({ status: 410, code: 'version_expired', detail: 'version 2 is no longer kept' });
    const failed: unknown[] = [];
    const versions = new Versions();
    const rejecting = async (): Promise<AtVersion> => {
      throw expired;
    };
    const before = versions.at(2, 9, rejecting, 'trip:paris', (error) => failed.push(error));
    await expect(before).rejects.toThrow(/^Version 2 is no longer kept by the server \(its history was trimmed\)\.$/);
    versions.record(7, {});
    const after = versions.at(2, 9, rejecting, 'trip:paris', (error) => failed.push(error));
    await expect(after).rejects.toThrow('Version 2 is no longer kept by the server (its history was trimmed). This page has every version from 7 on (since it opened).');
    await expect(after).rejects.toMatchObject({ cause: expired });
    // The page hears each failure (a refused token is the page's problem).
    expect(failed).toEqual([expired, expired]);
  });

  it('says why any other version could not be read', async () => {
    const versions = new Versions();
    versions.record(7, {});
    const forbidden = new SessionSyncError({ status: 403, code: 'forbidden', detail: 'no' });
    const attempt = versions.at(2, 9, async () => Promise.reject(forbidden), 'trip:paris');
    await expect(attempt).rejects.toThrow(/^Version 2 could not be read: The token does not allow reading session "trip:paris"\. \(403 forbidden\)$/);
    await expect(attempt).rejects.toMatchObject({ cause: forbidden });
    await expect(versions.at(2, 9, async () => Promise.reject(new Error('offline')))).rejects.toThrow(/^Version 2 could not be read: offline$/);
  });
});

describe('what an ?at_version= answer holds', () => {
  it('is no state for new, the snapshot alone without deltas', () => {
    expect(stateOf({ mode: 'new' })).toBeNull();
    expect(stateOf({ mode: 'new', snapshot: { a: 1 } })).toBeNull();
    expect(stateOf({ mode: 'snapshot', snapshot: { a: 1 }, deltas: [] })).toEqual({ a: 1 });
    expect(stateOf({ mode: 'snapshot', snapshot: { a: 1 } })).toEqual({ a: 1 });
    expect(stateOf({ mode: 'snapshot' })).toBeNull();
    expect(stateOf({ mode: 'snapshot', deltas: [{ merge_patch: { a: 1 } }] })).toEqual({ a: 1 });
  });

  it('fails on a delta that does not apply, naming the operation', () => {
    expect(() => stateOf({ mode: 'snapshot', snapshot: {}, deltas: [{ patch: [{ op: 'remove', path: '/missing' }] }] })).toThrow(/operation 0/);
  });
});

describe('the versions this page records', () => {
  it(`keeps the newest ${RECORDED_VERSIONS}, and says from which one it has them`, () => {
    const versions = new Versions(3);
    expect(versions.first).toBeUndefined();
    versions.record(4, 'a');
    versions.record(5, 'b');
    versions.record(6, 'c');
    expect(versions.first).toBe(4);
    versions.record(7, 'd');
    expect(versions.first).toBe(5);
    versions.record(8, 'e');
    expect(versions.first).toBe(6);
    expect(new Versions().record(1, null)).toBe(true);
  });

  it('forgets the oldest once past the limit', async () => {
    const versions = new Versions(2);
    versions.record(1, 'one');
    versions.record(2, 'two');
    versions.record(3, 'three');
    const read = async (): Promise<AtVersion> => ({ mode: 'snapshot', snapshot: 'from the server' });
    expect(await versions.at(1, 3, read)).toMatchObject({ state: 'from the server', seen: false });
    expect(await versions.at(2, 3, read)).toMatchObject({ state: 'two', seen: true });
    expect(versions.note(2, await versions.at(2, 3, read))).toBe('Version 2 as this page saw it (it records every version from 2 on, since it opened).');
  });

  it('holds a thousand by default', () => {
    const versions = new Versions();
    for (let version = 1; version <= RECORDED_VERSIONS + 1; version++) versions.record(version, version);
    expect(RECORDED_VERSIONS).toBe(1000);
    expect(versions.first).toBe(2);
  });
});

describe('a version typed into a form', () => {
  it('is a whole number from 0', () => {
    expect(versionOf('0')).toBe(0);
    expect(versionOf('12')).toBe(12);
    for (const text of ['', '  ', '-1', '1.5', 'abc', 'NaN']) expect(versionOf(text), JSON.stringify(text)).toBeUndefined();
  });
});
