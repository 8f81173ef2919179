import { EVENT } from 'session-sync/client/protocol';
import { InvalidRequest } from '../errors.js';
import type { NewEvent } from '../events/append.js';
import type { EventRow } from '../events/read.js';
import { countWithin, jsonWithin } from '../limits.js';

/*
 * Durable Streams messages are the session's durable events. A JSON stream
 * keeps one `stream.message` event per message (an array body is flattened
 * one level), its data the message; any other content type keeps each append
 * as one `stream.bytes` event, `{"base64": ...}`, the exact bytes. A reader
 * sees every other event of the session too: on a JSON stream as
 * `{"type": ..., "data": ...}`, on a byte stream as that object's JSON line.
 */

export const JSON_CONTENT_TYPE = 'application/json';
/** What a stream created without a Content-Type holds (PROTOCOL.md §5.1). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
/** What a session made through the native API reads as: its events are JSON. */
export const NATIVE_CONTENT_TYPE = JSON_CONTENT_TYPE;

/** A Content-Type as streams compare it: type/subtype, lowercase, without parameters. */
export function contentTypeKey(header: string): string {
  // Stryker disable next-line StringLiteral: split always yields a first string (the ?? is for the type), so the fallback is never used
  return (header.split(';')[0] ?? '').trim().toLowerCase();
}

export const isJsonStream = (contentType: string) => contentType === JSON_CONTENT_TYPE;

export interface MessageLimits {
  maxEventBytes: number;
  /** How many messages one JSON append may hold (MAX_BATCH_EVENTS, as a native batch). */
  maxBatchEvents: number;
  /** Parses a JSON body (the HTTP layer's parser, with its depth and string rules). */
  parseJson: (raw: Buffer) => unknown;
}

/**
 * The events one append (or a PUT's initial body) makes. A JSON body is
 * flattened one level; `[]` makes none, which a PUT allows and an append
 * refuses (`allowEmpty`).
 */
export function eventsOf(contentType: string, body: Buffer, limits: MessageLimits, allowEmpty: boolean): NewEvent[] {
  if (!isJsonStream(contentType)) {
    if (body.length === 0) return [];
    return [{ type: EVENT.streamBytes, dataJson: jsonWithin({ base64: body.toString('base64') }, limits.maxEventBytes, 'the body (as base64)', 'MAX_EVENT_BYTES').json }];
  }
  if (body.length === 0) return [];
  const value = limits.parseJson(body);
  const messages = Array.isArray(value) ? value : [value];
  countWithin(messages.length, limits.maxBatchEvents, 'messages');
  if (messages.length === 0 && !allowEmpty) {
    throw new InvalidRequest('an empty JSON array appends nothing: send at least one message', [{ in: 'body', field: '', message: 'is an empty array' }]);
  }
  return messages.map((message, index) => ({
    type: EVENT.streamMessage,
    dataJson: jsonWithin(message, limits.maxEventBytes, Array.isArray(value) ? `message ${index}` : 'the message', 'MAX_EVENT_BYTES').json,
  }));
}

/** A JSON stream's message for an event: its data for a `stream.message`, `{"type", "data"}` for any other event. */
export function jsonMessageOf(row: Pick<EventRow, 'type' | 'data'>): string {
  return row.type === EVENT.streamMessage ? row.data : `{"type":${JSON.stringify(row.type)},"data":${row.data}}`;
}

/** A byte stream's bytes for an event: the chunk of a `stream.bytes`, a JSON line for any other event. */
export function bytesOf(row: Pick<EventRow, 'type' | 'data'>): Buffer {
  if (row.type === EVENT.streamBytes) return Buffer.from((JSON.parse(row.data) as { base64: string }).base64, 'base64');
  return Buffer.from(`${jsonMessageOf(row)}\n`);
}

/** The body of a read: a JSON array of the messages, or the bytes one after another. */
export function bodyOf(contentType: string, rows: Pick<EventRow, 'type' | 'data'>[]): Buffer {
  if (isJsonStream(contentType)) return Buffer.from(`[${rows.map(jsonMessageOf).join(',')}]`);
  return Buffer.concat(rows.map(bytesOf));
}
