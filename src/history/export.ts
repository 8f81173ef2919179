import { readChunkSlice } from '../attachments/statements.js';
import { type Db, READ_ONLY_SNAPSHOT } from '../db/client.js';
import { beginOn, commit, rollback } from '../db/statements.js';
import { SessionNotFound } from '../errors.js';
import { EXPORT_CHUNK_BYTES, EXPORT_FORMAT, EXPORT_FORMAT_VERSION, type ExportCounts } from './export-format.js';
import {
  readAttachmentLines,
  readEventLines,
  readMessageLines,
  readProducerLines,
  readQueueBatchLines,
  readSessionLine,
  readSnapshotLine,
  readSnapshotSlice,
  readTurnLines,
} from './statements.js';

/** Rows per page of messages and turns: a page holds at most this many times MAX_EVENT_BYTES. */
const PAGE_ROWS = 32;
/** A page of events: this many rows, or this many bytes of data (at least one row). */
const EVENT_PAGE_ROWS = 1000;
const EVENT_PAGE_BYTES = 1024 * 1024;
/** Queue batches hold up to a whole request body each: a few at a time. */
const BATCH_ROWS = 4;
/** A producer line is short (an id of at most MAX_PRODUCER_ID_LENGTH, two numbers). */
const PRODUCER_ROWS = 500;

/**
 * The lines of a session's export (see `export-format.ts`), each ending in a
 * newline, read in one REPEATABLE READ snapshot of the database on a
 * connection of its own: a write or a trim that lands meanwhile is either
 * wholly in the file or not at all. Nothing is read before it is asked for,
 * and every read is a page or a slice of bounded size, so memory does not
 * grow with the session and a slow reader slows the reads. The lines are
 * built by Postgres (`json_build_object`), so stored JSON travels verbatim.
 * Abandoning the iteration (a client that goes away) rolls back and frees the
 * connection. Throws SessionNotFound before the first line (also for a
 * soft-deleted session or a stream past its expiry: both read as absent).
 */
export async function* exportLines(db: Db, sessionId: string): AsyncGenerator<string> {
  const pg = await db.reserve();
  try {
    await beginOn(pg, READ_ONLY_SNAPSHOT);
    const session = await readSessionLine(pg, sessionId);
    if (!session) throw new SessionNotFound(sessionId);
    const sid = session.sid;
    const counts: ExportCounts = { snapshots: 0, events: 0, messages: 0, queue_batches: 0, turns: 0, producers: 0, attachments: 0 };
    const header = { record: 'header', format: EXPORT_FORMAT, format_version: EXPORT_FORMAT_VERSION, exported_at: new Date().toISOString() };
    // The Durable Streams fields only where the face set them: a native session's line is as before, so a
    // server that predates them still reads its export (and refuses a stream's rather than lose them).
    const line = session.stream === '{}' ? session.line : `${session.line.slice(0, -1)}, ${session.stream.slice(1)}`;
    yield `${JSON.stringify(header)}\n${line}\n`;

    for (let after = -1; ; ) {
      const row = await readSnapshotLine(pg, sid, after);
      if (!row) break;
      const version = row.version;
      after = version;
      counts.snapshots++;
      yield `${row.line}\n`;
      if (row.size !== null) {
        yield* chunkLines(row.size, (offset, length) => readSnapshotSlice(pg, sid, version, offset, length));
      }
    }

    for (let after = 0; ; ) {
      const rows = await readEventLines(pg, sid, after, EVENT_PAGE_ROWS, EVENT_PAGE_BYTES);
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.line === null) break;
        after = row.seq;
        counts.events++;
        yield `${row.line}\n`;
      }
    }

    for (let after = 0; ; ) {
      const rows = await readMessageLines(pg, sid, after, PAGE_ROWS);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.seq ?? after;
      counts.messages += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = 0; ; ) {
      const rows = await readQueueBatchLines(pg, sid, after, BATCH_ROWS);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.id ?? after;
      counts.queue_batches += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = ''; ; ) {
      const rows = await readTurnLines(pg, sid, after, PAGE_ROWS);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.turnId ?? after;
      counts.turns += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = ''; ; ) {
      const rows = await readProducerLines(pg, sid, after, PRODUCER_ROWS);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.producerId ?? after;
      counts.producers += rows.length;
      for (const row of rows) yield `${row.line}\n`;
    }

    for (let after = 0; ; ) {
      const rows = await readAttachmentLines(pg, sid, after, PAGE_ROWS);
      if (rows.length === 0) break;
      for (const row of rows) {
        after = row.id;
        counts.attachments++;
        yield `${row.line}\n`;
        const { id: blobId, chunkBytes } = row;
        yield* chunkLines(row.size, (offset, length) => {
          // A slice never crosses a stored chunk (chunkLines asks for at most what is left of one).
          const n = Math.floor(offset / chunkBytes);
          return readChunkSlice(pg, blobId, n, offset - n * chunkBytes, length);
        }, chunkBytes);
      }
    }

    // Counted only when there are some, for the same reason: a file without producers reads as it always did.
    const { producers, ...others } = counts;
    yield `${JSON.stringify({ record: 'end', counts: producers === 0 ? others : counts })}\n`;
    await commit(pg);
  } finally {
    // After a failure or an abandoned read the transaction is still open: roll it back before the connection goes back.
    await rollback(pg).catch(() => {});
    pg.release();
  }
}

/**
 * `chunk` lines carrying `size` bytes, read one slice at a time (at most
 * EXPORT_CHUNK_BYTES, and never across a multiple of `boundary`), so one line
 * is what is held, however large the bytes.
 */
async function* chunkLines(
  size: number,
  read: (offset: number, length: number) => Promise<Buffer | null | undefined>,
  boundary = Number.MAX_SAFE_INTEGER,
): AsyncGenerator<string> {
  for (let offset = 0; offset < size; ) {
    const length = Math.min(EXPORT_CHUNK_BYTES, size - offset, boundary - (offset % boundary));
    const data = await read(offset, length);
    if (!data || data.length !== length) throw new Error(`stored bytes end early at ${offset} of ${size}`);
    offset += length;
    yield `{"record":"chunk","data_base64":"${data.toString('base64')}"}\n`;
  }
}
