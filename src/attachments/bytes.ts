import { createHash } from 'node:crypto';
import { type Sql, type Tx } from '../db/client.js';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { PayloadTooLarge } from '../errors.js';
import { openChunkCopy, readChunkSlice } from './statements.js';

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
  read(pg: Sql, blob: BlobRef, start: number, end: number): AsyncIterable<Buffer>;
}

export function tooLarge(maxBytes: number, size?: number): PayloadTooLarge {
  return new PayloadTooLarge(
    `an attachment may hold ${maxBytes} bytes (MAX_ATTACHMENT_BYTES)${size === undefined ? '' : `; this one has ${size}`}`,
    // An unknown size (a body cut where it passed the limit) is left out of the problem's JSON.
    { limit_bytes: maxBytes, size },
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

  /**
   * The chunks go in through one binary COPY (`openChunkCopy`), written with
   * its backpressure: the stream waits for the socket, so a slow database
   * slows the reading of the client's body.
   */
  async write(tx: Tx, blobId: number, source: AsyncIterable<Buffer>, maxBytes: number): Promise<StoredBytes> {
    const copy = await openChunkCopy(tx);
    const done = finished(copy);
    // A refused or broken upload aborts the COPY (and so the transaction).
    done.catch(() => {});
    const hash = createHash('sha256');
    const put = async (buffer: Buffer) => {
      if (!copy.write(buffer)) await once(copy, 'drain');
    };
    let chunk = Buffer.allocUnsafe(this.chunkBytes);
    let filled = 0;
    let size = 0;
    let n = 0;
    const flush = async () => {
      await put(tupleHeader(blobId, n++, filled));
      await put(chunk.subarray(0, filled));
      // The COPY stream may still hold the buffer: the next chunk gets its own.
      chunk = Buffer.allocUnsafe(this.chunkBytes);
      filled = 0;
    };
    try {
      await put(COPY_HEADER);
      for await (const data of source) {
        const piece = Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array);
        size += piece.length;
        if (size > maxBytes) throw tooLarge(maxBytes);
        hash.update(piece);
        for (let offset = 0; offset < piece.length; ) {
          const copied = piece.copy(chunk, filled, offset);
          filled += copied;
          offset += copied;
          if (filled === this.chunkBytes) await flush();
        }
      }
      if (filled > 0 || n === 0) await flush();
      await put(COPY_TRAILER);
      copy.end();
      await done;
    } catch (error) {
      copy.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    return { size, sha256: hash.digest('hex') };
  }

  /**
   * One query per READ_SLICE_BYTES of a chunk, one at a time: what is held is
   * one slice whatever the size, and a client that stops reading stops the
   * queries. postgres.js reads bytea as hex text; slices this small keep those
   * strings in V8's young generation, which is collected at once (whole
   * chunks made 512 KiB strings that piled up until a full collection: the
   * process grew by most of a 100 MiB download); `readChunkSlice` reads only
   * the slice from disk.
   * (A COPY TO STDOUT stream would avoid the hex text, but postgres.js pauses
   * the connection for good when such a stream is abandoned halfway.)
   */
  async *read(pg: Sql, { id: blobId, chunkBytes }: BlobRef, start: number, end: number): AsyncIterable<Buffer> {
    for (let position = start; position <= end; ) {
      const n = Math.floor(position / chunkBytes);
      const offset = position - n * chunkBytes;
      const length = Math.min(READ_SLICE_BYTES, chunkBytes - offset, end - position + 1);
      const data = await readChunkSlice(pg, blobId, n, offset, length);
      // Deleted while being read (its session went): past the first slice the response ends short, and the client sees a broken transfer.
      if (!data || data.length === 0) throw new BlobGone(blobId, n);
      position += data.length;
      yield data;
    }
  }
}

/** The bytes were deleted after their attachment was found (its session went meanwhile). */
export class BlobGone extends Error {
  constructor(blobId: number, n: number) {
    super(`attachment chunk ${blobId}/${n} is gone`);
  }
}

/** Under V8's largest young-generation object once hex-encoded (128 KiB). */
const READ_SLICE_BYTES = 60 * 1024;

const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** One binary COPY tuple's framing before its data: three fields (blob_id int8, n int4, data bytea). */
function tupleHeader(blobId: number, n: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(2 + 4 + 8 + 4 + 4 + 4);
  header.writeInt16BE(3, 0);
  header.writeInt32BE(8, 2);
  header.writeBigInt64BE(BigInt(blobId), 6);
  header.writeInt32BE(4, 14);
  header.writeInt32BE(n, 18);
  header.writeInt32BE(length, 22);
  return header;
}
