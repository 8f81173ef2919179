import type { TestApp } from './app.js';
import { until } from './waits.js';

/** An upload over a real socket whose body is sent piece by piece, by the test, and can be finished or abandoned. */
export function stalledUpload(t: TestApp, id: string) {
  let sender!: ReadableStreamDefaultController<Uint8Array>;
  const abort = new AbortController();
  const body = new ReadableStream<Uint8Array>({ start: (controller) => void (sender = controller) });
  const response = fetch(`${t.baseUrl}/v1/sessions/${id}/attachments`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/octet-stream' },
    duplex: 'half',
    signal: abort.signal,
  } as RequestInit);
  // Settled by the test; an abandoned request rejects, which is what it is for.
  response.catch(() => {});
  return { response, send: (bytes: Buffer) => sender.enqueue(bytes), finish: () => sender.close(), abandon: () => abort.abort() };
}

/** Until an upload's bytes are being copied in: it is past the checks made before its first byte is stored. */
export async function copying(t: TestApp): Promise<void> {
  await until(
    async () => (await t.database.db`select count(*)::int as n from pg_stat_activity where query like 'copy attachment_chunks%'`)[0]?.n > 0,
    'the upload copying its bytes',
  );
}

/**
 * An upload past the checks made before its first byte is stored: `bytes` (more than a chunk, so that one is
 * stored) are sent and being copied in, and the rest of its body is the test's to send, finish or abandon.
 */
export async function copyingUpload(t: TestApp, id: string, bytes: Buffer) {
  const upload = stalledUpload(t, id);
  upload.send(bytes);
  await copying(t);
  return upload;
}
