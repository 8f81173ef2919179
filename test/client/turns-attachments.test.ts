import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../client/src/index.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// commitTurn and the attachment methods against the real server, on the client and on a lease's bound session.
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.listen();
});
afterAll(() => t?.close());

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

describe('client turns and attachments', () => {
  it('uploads (bytes, Blob, stream), lists, downloads whole and by range, and commits by a turn or on its own', async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'ct-1' });
    const bytes = randomBytes(300_000);
    const uploaded = await client.uploadAttachment('ct-1', bytes, { contentType: 'image/png' });
    expect(uploaded).toMatchObject({ attachment_id: sha(bytes), size: bytes.length, content_type: 'image/png', committed: false });
    const blob = await client.uploadAttachment('ct-1', new Blob(['blob text'], { type: 'text/plain' }));
    expect(blob).toMatchObject({ attachment_id: sha('blob text'), content_type: 'text/plain' });
    const streamed = await client.uploadAttachment(
      'ct-1',
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('streamed '));
          controller.enqueue(new TextEncoder().encode('bytes'));
          controller.close();
        },
      }),
    );
    expect(streamed).toMatchObject({ attachment_id: sha('streamed bytes'), content_type: 'application/octet-stream' });
    expect((await client.listAttachments('ct-1')).attachments.map((a) => a.attachment_id)).toEqual(
      [uploaded, blob, streamed].map((a) => a.attachment_id),
    );

    const whole = await client.downloadAttachment('ct-1', uploaded.attachment_id);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const part = await client.downloadAttachment('ct-1', uploaded.attachment_id, { range: { start: 262_140, end: 262_150 } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(262_140, 262_151))).toBe(true);
    const tail = await client.downloadAttachment('ct-1', uploaded.attachment_id, { range: { start: 299_990 } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(299_990))).toBe(true);
    await expect(client.downloadAttachment('ct-1', '0'.repeat(64))).rejects.toMatchObject({ status: 404, code: 'attachment_not_found' });

    const body = { turn_id: 'ct-turn', attachments: [uploaded.attachment_id], messages: [{ role: 'assistant' as const, content: 'see file' }] };
    const answer = await client.commitTurn('ct-1', body);
    expect(answer.turn_id).toBe('ct-turn');
    // A worker restarted after a crash sends the same turn again (a new call, so a new Idempotency-Key): the same answer.
    expect(await client.commitTurn('ct-1', body)).toEqual(answer);
    expect((await client.listAttachments('ct-1')).attachments[0]?.committed).toBe(true);
    await expect(client.commitTurn('ct-1', { ...body, messages: [] })).rejects.toMatchObject({ status: 409, code: 'turn_conflict' });

    // An attachment no turn names is committed on its own.
    expect(await client.commitAttachment('ct-1', blob.attachment_id)).toMatchObject({ attachment_id: blob.attachment_id, committed: true });
    expect((await client.listAttachments('ct-1')).attachments.map((a) => a.committed)).toEqual([true, true, false]);
  });

  it("a lease's session uploads and commits turns with its Lease-Token", async () => {
    const client = createClient({ baseUrl: t.baseUrl });
    await client.createSession({ id: 'ct-2' });
    const lease = await client.claimLease('ct-2', { owner: 'worker', ttlMs: 60_000, renew: false });
    // Without the token the server refuses: the bound session is what carries it.
    await expect(client.uploadAttachment('ct-2', 'x')).rejects.toMatchObject({ code: 'lease_held' });
    const file = await lease.session.uploadAttachment('report', { contentType: 'text/plain' });
    expect((await (await lease.session.downloadAttachment(file.attachment_id)).text())).toBe('report');
    const answer = await lease.session.commitTurn({ turn_id: 'leased', attachments: [file.attachment_id], release_lease: true });
    expect(answer.turn_id).toBe('leased');
    expect((await client.getSession('ct-2')).lease).toBeNull();
    expect((await lease.session.listAttachments()).attachments[0]?.committed).toBe(true);
  });
});
