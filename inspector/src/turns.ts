/**
 * A session's history as the inspector reads it: newest first, the events
 * one `turn.committed` closes (its state change, its own events, its
 * messages, the queued input it completed, the attachments it committed, the
 * lease it released; docs/API.md, Turns) grouped as that turn, explained
 * part by part; events outside a turn one by one. Events arrive from both
 * ends (the stream on top, "Load older" below), and a turn's events may
 * arrive before or after its `turn.committed`.
 *
 * No DOM: history.ts draws the rows and parts this module decides.
 */
import { EVENT, RESERVED_PREFIXES } from '../../client/src/protocol.js';
import type { DurableEvent } from '../../client/src/types.js';
import { base64Bytes, bytes, count, jsonText, plural } from './format.js';
import { costText, type TurnUsage, turnUsageLine } from './usage.js';

/** The data of a `turn.committed` event (docs/API.md, Turns). */
export interface TurnSummary {
  turn_id: string;
  version: number;
  first_seq: number;
  state_changed: boolean;
  events: number;
  message_ids: string[];
  completed_claims: string[];
  attachments: string[];
  usage: TurnUsage[];
  lease_released: boolean;
}

/** Characters of an event's one-line preview. */
const PREVIEW_CHARS = 200;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

/** A `turn.committed` event's data, read defensively: whatever its shape, the page shows what it can. */
export function turnOf(event: DurableEvent): TurnSummary | undefined {
  const data = event.data;
  if (event.type !== EVENT.turnCommitted || !isRecord(data) || typeof data.turn_id !== 'string' || typeof data.first_seq !== 'number') return undefined;
  const usage = Array.isArray(data.usage)
    ? data.usage.filter(isRecord).map((u) => ({
        model: String(u.model ?? '?'),
        input_tokens: Number(u.input_tokens ?? 0),
        output_tokens: Number(u.output_tokens ?? 0),
        ...(typeof u.cost_usd === 'number' ? { cost_usd: u.cost_usd } : {}),
      }))
    : [];
  return {
    turn_id: data.turn_id,
    version: typeof data.version === 'number' ? data.version : 0,
    first_seq: data.first_seq,
    state_changed: data.state_changed === true,
    events: typeof data.events === 'number' ? data.events : 0,
    message_ids: strings(data.message_ids),
    completed_claims: strings(data.completed_claims),
    attachments: strings(data.attachments),
    usage,
    lease_released: data.lease_released === true,
  };
}

/** One line saying what an event is: its data's start, or for a message its role and text. */
export function preview(event: DurableEvent): string {
  const data = event.data;
  if (event.type === EVENT.messageAppended && isRecord(data)) {
    const content = typeof data.content === 'string' ? data.content : jsonText(data.content, PREVIEW_CHARS);
    return `${String(data.role ?? '')}: ${content.slice(0, PREVIEW_CHARS)}`;
  }
  return jsonText(data, PREVIEW_CHARS);
}

/** A row of the history: a turn (at its `turn.committed`) or an event outside any turn loaded. */
export type Row = { kind: 'turn'; seq: number; summary: TurnSummary; event: DurableEvent } | { kind: 'event'; seq: number; event: DurableEvent };

/** The events loaded, each once, and the turns they group into. */
export class Timeline {
  private readonly events = new Map<number, DurableEvent>();
  /** Loaded seqs, ascending. */
  private readonly seqs: number[] = [];
  /** The seq of each `turn.committed` loaded -> its summary. */
  private readonly committed = new Map<number, TurnSummary>();
  /** A turn's member seq -> the seq of its `turn.committed`. */
  private readonly memberOf = new Map<number, number>();

  /** Adds what is new (an event already loaded is kept as it was); returns the events added. */
  add(events: readonly DurableEvent[]): DurableEvent[] {
    const added: DurableEvent[] = [];
    for (const event of events) {
      if (this.events.has(event.seq)) continue;
      this.events.set(event.seq, event);
      this.insertSeq(event.seq);
      added.push(event);
      const summary = turnOf(event);
      if (summary) {
        for (let seq = summary.first_seq; seq < event.seq; seq++) this.memberOf.set(seq, event.seq);
        this.committed.set(event.seq, summary);
      }
    }
    return added;
  }

  get(seq: number): DurableEvent | undefined {
    return this.events.get(seq);
  }

  /** Newest first: a turn where its `turn.committed` is, its members inside it; every other event by itself. */
  rows(): Row[] {
    const rows: Row[] = [];
    for (let i = this.seqs.length - 1; i >= 0; i--) {
      const seq = this.seqs[i]!;
      // A turn's member shows inside its turn.
      if (this.memberOf.has(seq)) continue;
      const event = this.events.get(seq)!;
      const summary = this.committed.get(seq);
      rows.push(summary ? { kind: 'turn', seq, summary, event } : { kind: 'event', seq, event });
    }
    return rows;
  }

  /** The events of the turn committed at `seq` that are loaded, oldest first (the `turn.committed` itself not included). */
  members(seq: number): DurableEvent[] {
    const summary = this.committed.get(seq);
    const members: DurableEvent[] = [];
    if (!summary) return members;
    for (let member = summary.first_seq; member < seq; member++) {
      const event = this.events.get(member);
      if (event) members.push(event);
    }
    return members;
  }

  /** The turns loaded, newest first. */
  turns(): TurnSummary[] {
    return [...this.committed].sort(([a], [b]) => b - a).map(([, summary]) => summary);
  }

  private insertSeq(seq: number): void {
    const seqs = this.seqs;
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (seqs[mid]! < seq) low = mid + 1;
      else high = mid;
    }
    seqs.splice(low, 0, seq);
  }
}

/** Whether the server wrote this event (its type under a reserved prefix), rather than the worker. */
export function isServerEvent(type: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => type.startsWith(prefix));
}

/** A worker's event that records a tool call (`tool.…`, `tools_…`). */
export function isToolEvent(type: string): boolean {
  return /^tools?[._]/.test(type);
}

/** A turn's state change as it was posted. */
export type StateChange =
  /** A snapshot, or a binary delta: what it is in words. */
  | { kind: 'words'; text: string }
  /** JSON Patch: its operations, one a line. */
  | { kind: 'patch'; ops: PatchLine[] }
  /** A merge patch, as a tree. */
  | { kind: 'merge'; patch: unknown }
  /** Anything else: its data as JSON text. */
  | { kind: 'json'; text: string };

export interface PatchLine {
  op: string;
  path: string;
  from: string | undefined;
  value: string | undefined;
}

export function stateChange(event: DurableEvent): StateChange {
  const data = isRecord(event.data) ? event.data : {};
  if (event.type === EVENT.stateSnapshot) return { kind: 'words', text: `Replaced by a new snapshot${typeof data.schema_version === 'number' ? ` (schema version ${data.schema_version})` : ''}.` };
  if (Array.isArray(data.patch)) {
    return {
      kind: 'patch',
      ops: data.patch.filter(isRecord).map((op) => ({
        op: String(op.op ?? '?'),
        path: String(op.path ?? ''),
        from: op.from !== undefined ? String(op.from) : undefined,
        value: op.value !== undefined ? jsonText(op.value, 2000) : undefined,
      })),
    };
  }
  if ('merge_patch' in data) return { kind: 'merge', patch: data.merge_patch };
  if (typeof data.delta_base64 === 'string') return { kind: 'words', text: `A binary delta of ${bytes(base64Bytes(data.delta_base64))} in the worker's own format.` };
  return { kind: 'json', text: jsonText(data, 4000, 2) };
}

export interface MessageLine {
  role: string;
  /** ` (summary)`: a kind other than a plain message, else empty. */
  kind: string;
  content: string;
}

export interface ClaimLine {
  claim: string;
  /** The batches the claim held (` · batches `, and their ids), when its `queue.completed` is loaded. */
  batches: { label: string; ids: string } | undefined;
}

export interface AttachmentLine {
  id: string;
  /** The id's start, as the line shows it. */
  short: string;
  /** Its content type, when its `attachment.committed` is loaded. */
  type: string | undefined;
  /** ` · 12 B`, or that an earlier write committed it, or nothing while its event is not loaded. */
  size: string;
}

export interface UsageLine {
  model: string;
  input: string;
  output: string;
  cost: string;
}

/** One turn explained: each part it has, with its title; absent parts are undefined. */
export interface TurnParts {
  state: {
    title: string;
    /** The change as posted, once its state event is loaded. */
    change: StateChange | undefined;
    /** Said instead of the change: unchanged, or its event not loaded yet. */
    note: string | undefined;
    /** The two versions to compare, for a JSON state that changed past version 1. */
    compare: { from: number; to: number; label: string } | undefined;
  };
  messages: { title: string; lines: MessageLine[] } | undefined;
  tools: { title: string; events: DurableEvent[] } | undefined;
  events: { title: string; events: DurableEvent[] } | undefined;
  claims: { title: string; lines: ClaimLine[] } | undefined;
  attachments: { title: string; lines: AttachmentLine[] } | undefined;
  usage: UsageLine[] | undefined;
  lease: string | undefined;
  /** How many of its events are older than the history loaded. */
  partial: string | undefined;
  /** The heading of its raw events. */
  raw: string;
}

/** The turn's heading after its id: ` · v3 · seq 5–9 · `, and its usage in a line when it reported any. */
export function turnHeading(summary: TurnSummary, seq: number): { detail: string; usage: string | undefined } {
  return { detail: ` · v${summary.version} · seq ${summary.first_seq}–${seq} · `, usage: summary.usage.length ? ` · ${turnUsageLine(summary.usage)}` : undefined };
}

/**
 * The parts of the turn committed at `seq`, from its summary and the members
 * loaded (oldest first). `json`: whether the session's state is JSON (a
 * binary state has no diff to compare).
 */
export function turnParts(summary: TurnSummary, seq: number, members: readonly DurableEvent[], json: boolean): TurnParts {
  let state: TurnParts['state'];
  if (summary.state_changed) {
    const to = summary.version;
    const stateEvent = members.find((event) => event.type === EVENT.stateDelta || event.type === EVENT.stateSnapshot);
    state = {
      title: `State: v${to - 1} → v${to}`,
      change: stateEvent ? stateChange(stateEvent) : undefined,
      note: stateEvent ? undefined : 'Its state event is not loaded yet.',
      compare: json && to > 1 ? { from: to - 1, to, label: `Compare v${to - 1} → v${to}` } : undefined,
    };
  } else state = { title: 'State', change: undefined, note: `Unchanged (v${summary.version}).`, compare: undefined };

  const messages = summary.message_ids.length
    ? {
        title: `Messages (${summary.message_ids.length})`,
        lines: members
          .filter((event) => event.type === EVENT.messageAppended)
          .map((event) => {
            const data = isRecord(event.data) ? event.data : {};
            return {
              role: String(data.role ?? ''),
              kind: typeof data.kind === 'string' && data.kind !== 'message' ? ` (${data.kind})` : '',
              content: typeof data.content === 'string' ? data.content : jsonText(data.content, 20_000, 2),
            };
          }),
      }
    : undefined;

  // The turn's own events: what the worker recorded (tool calls by name, the rest as they are).
  const own = members.filter((event) => !isServerEvent(event.type));
  const tools = own.filter((event) => isToolEvent(event.type));
  const others = own.filter((event) => !isToolEvent(event.type));

  let claims: TurnParts['claims'];
  if (summary.completed_claims.length) {
    const batches = new Map<string, string[]>();
    for (const event of members) {
      if (event.type === EVENT.queueCompleted && isRecord(event.data) && typeof event.data.claim_id === 'string') batches.set(event.data.claim_id, strings(event.data.batch_ids));
    }
    claims = {
      title: `Queued input completed (${plural(summary.completed_claims.length, 'claim')})`,
      lines: summary.completed_claims.map((claim) => {
        const ids = batches.get(claim);
        return { claim, batches: ids ? { label: ` · batch${ids.length === 1 ? '' : 'es'} `, ids: ids.join(', ') } : undefined };
      }),
    };
  }

  let attachments: TurnParts['attachments'];
  if (summary.attachments.length) {
    const committed = new Map<string, Record<string, unknown>>();
    for (const event of members) {
      if (event.type === EVENT.attachmentCommitted && isRecord(event.data) && typeof event.data.attachment_id === 'string') committed.set(event.data.attachment_id, event.data);
    }
    attachments = {
      title: `Attachments (${summary.attachments.length})`,
      lines: summary.attachments.map((id) => {
        const data = committed.get(id);
        return {
          id,
          short: `${id.slice(0, 12)}…`,
          type: typeof data?.content_type === 'string' ? data.content_type : undefined,
          size: typeof data?.size === 'number' ? ` · ${bytes(data.size)}` : data ? '' : ' · committed by an earlier write',
        };
      }),
    };
  }

  const expected = seq - summary.first_seq;
  return {
    state,
    messages,
    tools: tools.length ? { title: `Tool calls (${tools.length})`, events: tools } : undefined,
    events: others.length ? { title: `Events (${others.length})`, events: others } : undefined,
    claims,
    attachments,
    usage: summary.usage.length
      ? summary.usage.map((u) => ({ model: u.model, input: count(u.input_tokens), output: count(u.output_tokens), cost: costText(u.cost_usd) }))
      : undefined,
    lease: summary.lease_released ? 'The turn released the lease.' : undefined,
    partial:
      members.length < expected ? `${expected - members.length} of this turn's ${expected} events are older than the history loaded: "Load older" reads them.` : undefined,
    raw: `All ${members.length + 1} events of this turn`,
  };
}
