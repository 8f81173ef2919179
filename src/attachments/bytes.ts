import { createHash } from 'node:crypto';
import { transactionSql, type DbOrTx, type Tx } from '../db/client.js';
import { sql } from 'drizzle-orm';
import { PayloadTooLarge } from '../http/errors.js';

/** A stored blob: its key, and the chunk size it was written with. */
export interface BlobRef {
  id: number;
  chunkBytes: number;
}

/** What was stored for one attachment. */
export interface StoredBytes {
  size: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
}

/**
 * Where an attachment's bytes live: the one seam an object store would take
 * over (the metadata row, commit and sweep stay in Postgres). `write` runs in
 * the upload's transaction, so a broken upload leaves no bytes behind; an
 * object store would instead write under a temporary name and let the sweep
 * remove what no committed row names.
 */
export interface AttachmentBytes {
  /** Stores `source` under `blobId`, refusing more than `maxBytes`. Memory use is one chunk, whatever the size. */
  write(tx: Tx, blobId: number, source: AsyncIterable<Buffer>, maxBytes: number): Promise<StoredBytes>;
  /** Bytes `start` to `end` (inclusive) of a stored blob, one chunk at a time. */
  read(db: DbOrTx, blob: BlobRef, start: number, end: number): AsyncIterable<Buffer>;
}

export function tooLarge(maxBytes: number, size?: number): PayloadTooLarge {
  return new PayloadTooLarge(
    `an attachment may hold ${maxBytes} bytes (MAX_ATTACHMENT_BYTES)${size === undefined ? '' : `; this one has ${size}`}`,
    size === undefined ? { limit_bytes: maxBytes } : { limit_bytes: maxBytes, size },
  );
}

/**
 * Bytes in Postgres, `chunkBytes` per row of `attachment_chunks` (stored
 * uncompressed out of line: most attachments are compressed already).
 * Large objects would also stream, but they live outside the tables: a
 * deleted session would leave them behind unless something unlinks them,
 * and they are invisible to row-level cascades, dumps per table and
 * logical replication. Rows of a fixed size make a Range read a seek to one
 * row.
 */
export class PostgresChunks implements AttachmentBytes {
  constructor(readonly chunkBytes: number) {}

  async write(tx: Tx, blobId: number, source: AsyncIterable<Buffer>, maxBytes: number): Promise<StoredBytes> {
    const pg = transactionSql(tx);
    const hash = createHash('sha256');
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    let n = 0;
    const flush = async (piece: Buffer) => {
      await pg`insert into attachment_chunks (blob_id, n, data) values (${blobId}, ${n++}, ${piece})`;
    };
    for await (const data of source) {
      const piece = Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array);
      size += piece.length;
      if (size > maxBytes) throw tooLarge(maxBytes);
      hash.update(piece);
      pending.push(piece);
      pendingBytes += piece.length;
      while (pendingBytes >= this.chunkBytes) {
        const whole = Buffer.concat(pending, pendingBytes);
        // Awaited before reading on: the socket is not read while the row is written (backpressure).
        await flush(whole.subarray(0, this.chunkBytes));
        const rest = whole.subarray(this.chunkBytes);
        pending = rest.length ? [Buffer.from(rest)] : [];
        pendingBytes = rest.length;
      }
    }
    if (pendingBytes > 0 || n === 0) await flush(Buffer.concat(pending, pendingBytes));
    return { size, sha256: hash.digest('hex') };
  }

  async *read(db: DbOrTx, { id: blobId, chunkBytes }: BlobRef, start: number, end: number): AsyncIterable<Buffer> {
    const first = Math.floor(start / chunkBytes);
    const last = Math.floor(end / chunkBytes);
    for (let n = first; n <= last; n++) {
      const [row] = await db.execute<{ data: Buffer }>(sql`select data from attachment_chunks where blob_id = ${blobId} and n = ${n}`);
      // Deleted while being read (its session went): the response ends short, and the client sees a broken transfer.
      if (!row) throw new Error(`attachment chunk ${blobId}/${n} is gone`);
      const offset = n * chunkBytes;
      const from = Math.max(0, start - offset);
      const to = Math.min(row.data.length, end - offset + 1);
      yield row.data.subarray(from, to);
    }
  }
}
