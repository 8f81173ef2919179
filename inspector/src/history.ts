/**
 * A session's history, newest first, grouped by turn: the events one
 * `turn.committed` closes (its state change, its own events, its messages,
 * the queued input it completed, the attachments it committed, the lease it
 * released) show as one turn, explained part by part, with the raw events
 * under it. Events outside a turn show one by one. Each event is one line
 * until opened; opened, its data is a collapsible tree.
 *
 * Events arrive from both ends (the stream on top, "Load older" below), and a
 * turn's events before its `turn.committed` may arrive before or after it;
 * each event's element is made once and moved, never rebuilt, so what the
 * viewer opened, and where the keyboard focus is, survives new events.
 */
import { type DurableEvent, EVENT, RESERVED_PREFIXES, type SessionSyncClient } from '@session-sync/client';
import { downloadButton } from './attachments.js';
import { bytes, count, h, jsonText, timeOf, usd } from './dom.js';
import type { ViewStatus } from './status.js';
import { Folding, JsonView, renderTree } from './tree.js';

export interface TurnUsage {
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd?: number;
}

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

/** Usage totals of one model. */
export interface ModelUsage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** Whether every turn that used it said what it cost. */
  costed: boolean;
  turns: number;
}

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

/** `1,200 in · 80 out · $0.0042`: one turn's or one session's usage in a line. */
export function usageLine(input: number, output: number, cost: number | undefined): string {
  return `${count(input)} in · ${count(output)} out tokens${cost === undefined ? '' : ` · ${usd(cost)}`}`;
}

/** One line saying what an event is: its data's start, or for a message its role and text. */
function preview(event: DurableEvent): string {
  const data = event.data;
  if (event.type === EVENT.messageAppended && isRecord(data)) {
    const content = typeof data.content === 'string' ? data.content : jsonText(data.content, PREVIEW_CHARS);
    return `${String(data.role ?? '')}: ${content.slice(0, PREVIEW_CHARS)}`;
  }
  return jsonText(data, PREVIEW_CHARS);
}

interface Group {
  seq: number;
  summary: TurnSummary;
  event: DurableEvent;
  element: HTMLLIElement;
  body: HTMLElement;
  /** Member events loaded when the body was last built. */
  built: number;
}

export interface HistoryOptions {
  client: SessionSyncClient;
  status: ViewStatus;
  sessionId: string;
  /** Whether the state is JSON (a binary state has no diff to show). */
  json: () => boolean;
  /** Shows the diff between two versions (the turn's "Compare" button). */
  compare: (from: number, to: number) => void;
  /** After each render: the turns shown may have changed. */
  rendered: () => void;
}

export class History {
  readonly element = h('ol', { class: 'history', attrs: { id: 'history', reversed: '' } });
  private readonly events = new Map<number, DurableEvent>();
  /** Loaded seqs, ascending. */
  private readonly seqs: number[] = [];
  private readonly items = new Map<number, HTMLLIElement>();
  private readonly groups = new Map<number, Group>();
  /** A turn's member seq -> the seq of its `turn.committed`. */
  private readonly memberOf = new Map<number, number>();
  private scheduled = false;

  constructor(private readonly options: HistoryOptions) {}

  add(events: readonly DurableEvent[]): void {
    for (const event of events) {
      if (this.events.has(event.seq)) continue;
      this.events.set(event.seq, event);
      this.insertSeq(event.seq);
      const summary = turnOf(event);
      if (summary) {
        for (let seq = summary.first_seq; seq < event.seq; seq++) this.memberOf.set(seq, event.seq);
        this.groups.set(event.seq, this.group(event, summary));
      }
    }
    this.schedule();
  }

  /** The turns loaded, newest first. */
  turns(): TurnSummary[] {
    return [...this.groups.values()].sort((a, b) => b.seq - a.seq).map((group) => group.summary);
  }

  /** Usage per model over the turns loaded. */
  usageByModel(): Map<string, ModelUsage> {
    const models = new Map<string, ModelUsage>();
    for (const turn of this.turns()) {
      for (const usage of turn.usage) {
        const total = models.get(usage.model) ?? { input_tokens: 0, output_tokens: 0, cost_usd: 0, costed: true, turns: 0 };
        total.input_tokens += usage.input_tokens;
        total.output_tokens += usage.output_tokens;
        total.cost_usd += usage.cost_usd ?? 0;
        total.costed &&= usage.cost_usd !== undefined;
        total.turns += 1;
        models.set(usage.model, total);
      }
    }
    return models;
  }

  private insertSeq(seq: number): void {
    const seqs = this.seqs;
    if (seqs.length === 0 || seq > seqs[seqs.length - 1]!) seqs.push(seq);
    else if (seq < seqs[0]!) seqs.unshift(seq);
    else {
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

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.render();
    });
  }

  /** Puts every item in place, newest first, moving only what is out of place. */
  private render(): void {
    const wanted: HTMLElement[] = [];
    const placed = new Set<number>();
    for (let i = this.seqs.length - 1; i >= 0; i--) {
      const seq = this.seqs[i]!;
      const turn = this.groups.has(seq) ? seq : this.memberOf.get(seq);
      if (turn !== undefined && this.groups.has(turn)) {
        if (placed.has(turn)) continue;
        placed.add(turn);
        const group = this.groups.get(turn)!;
        if (this.loadedMembers(group).length !== group.built) this.buildTurn(group);
        wanted.push(group.element);
      } else wanted.push(this.item(seq));
    }
    reconcile(this.element, wanted);
    this.options.rendered();
  }

  private loadedMembers(group: Group): number[] {
    const members: number[] = [];
    for (let seq = group.summary.first_seq; seq < group.seq; seq++) if (this.events.has(seq)) members.push(seq);
    return members;
  }

  /** One event, one line until opened; its data as a tree once opened (made then, not before). */
  private item(seq: number): HTMLLIElement {
    const existing = this.items.get(seq);
    if (existing) return existing;
    const event = this.events.get(seq)!;
    const details = h('details', { class: 'event-details' });
    const body = h('div', { class: 'event-body' });
    details.append(
      h(
        'summary',
        null,
        h('span', { class: 'seq' }, `#${event.seq}`),
        ' ',
        h('span', { class: 'type' }, event.type),
        typeof event.version === 'number' ? h('span', { class: 'detail' }, ` v${event.version}`) : null,
        ' ',
        timeOf(event.created_at),
        ' ',
        h('span', { class: 'preview' }, preview(event)),
      ),
      body,
    );
    details.addEventListener('toggle', () => {
      if (details.open && !body.firstChild) {
        const view = new JsonView(new Folding(3));
        view.set(event.data);
        body.append(view.element);
      }
    });
    const element = h('li', { class: 'event', attrs: { 'data-seq': String(seq), 'data-type': event.type } }, details);
    this.items.set(seq, element);
    return element;
  }

  private group(event: DurableEvent, summary: TurnSummary): Group {
    const body = h('div', { class: 'turn-body' });
    const cost = summary.usage.every((u) => u.cost_usd !== undefined) && summary.usage.length > 0 ? summary.usage.reduce((sum, u) => sum + (u.cost_usd ?? 0), 0) : undefined;
    const input = summary.usage.reduce((sum, u) => sum + u.input_tokens, 0);
    const output = summary.usage.reduce((sum, u) => sum + u.output_tokens, 0);
    const details = h(
      'details',
      { class: 'turn-details' },
      h(
        'summary',
        { class: 'turn-summary' },
        'Turn ',
        h('b', { class: 'turn-id' }, summary.turn_id),
        h('span', { class: 'detail' }, ` · v${summary.version} · seq ${summary.first_seq}–${event.seq} · `),
        timeOf(event.created_at),
        summary.usage.length ? h('span', { class: 'turn-usage' }, ` · ${usageLine(input, output, cost)}`) : null,
      ),
      body,
    );
    // A turn is what the history is read for: open, its events inside folded.
    details.open = true;
    const element = h('li', { class: 'turn', attrs: { 'data-seq': String(event.seq), 'data-turn-id': summary.turn_id } }, details);
    return { seq: event.seq, summary, event, element, body, built: -1 };
  }

  private buildTurn(group: Group): void {
    const { summary } = group;
    const members = this.loadedMembers(group).map((seq) => this.events.get(seq)!);
    group.built = members.length;
    const parts: HTMLElement[] = [];
    const part = (name: string, title: string, ...content: (HTMLElement | string | null)[]) =>
      parts.push(h('section', { class: `turn-part turn-${name}`, attrs: { 'data-part': name } }, h('h5', null, title), ...content));

    // The state change.
    const stateEvent = members.find((event) => event.type === EVENT.stateDelta || event.type === EVENT.stateSnapshot);
    if (summary.state_changed) {
      const to = summary.version;
      const compare =
        this.options.json() && to > 1
          ? h('button', { class: 'small', attrs: { type: 'button', 'data-compare': `${to - 1}-${to}` }, on: { click: () => this.options.compare(to - 1, to) } }, `Compare v${to - 1} → v${to}`)
          : null;
      part('state', `State: v${to - 1} → v${to}`, stateEvent ? stateChange(stateEvent) : h('p', { class: 'hint' }, 'Its state event is not loaded yet.'), compare);
    } else part('state', 'State', h('p', { class: 'hint' }, `Unchanged (v${summary.version}).`));

    const messages = members.filter((event) => event.type === EVENT.messageAppended);
    if (summary.message_ids.length) {
      part(
        'messages',
        `Messages (${summary.message_ids.length})`,
        h(
          'ol',
          { class: 'turn-messages' },
          ...messages.map((event) => {
            const data = isRecord(event.data) ? event.data : {};
            const role = String(data.role ?? '');
            const kind = typeof data.kind === 'string' && data.kind !== 'message' ? ` (${data.kind})` : '';
            return h(
              'li',
              { class: `message role-${role.replace(/[^a-z]/g, '')}` },
              h('b', { class: 'role' }, role),
              kind,
              h('pre', { class: 'content' }, typeof data.content === 'string' ? data.content : jsonText(data.content, 20_000, 2)),
            );
          }),
        ),
      );
    }

    // The turn's own events: what the worker recorded (tool calls by name, the rest as they are).
    const own = members.filter((event) => !isServerEvent(event.type));
    const tools = own.filter((event) => /^tools?[._]/.test(event.type));
    const others = own.filter((event) => !tools.includes(event));
    const eventList = (list: DurableEvent[]) =>
      h('ol', { class: 'turn-events' }, ...list.map((event) => h('li', null, h('span', { class: 'type' }, event.type), ' ', renderTree(event.data, new Folding(1)))));
    if (tools.length) part('tools', `Tool calls (${tools.length})`, eventList(tools));
    if (others.length) part('events', `Events (${others.length})`, eventList(others));

    if (summary.completed_claims.length) {
      const batches = new Map<string, string[]>();
      for (const event of members) {
        if (event.type === EVENT.queueCompleted && isRecord(event.data) && typeof event.data.claim_id === 'string') batches.set(event.data.claim_id, strings(event.data.batch_ids));
      }
      part(
        'claims',
        `Queued input completed (${summary.completed_claims.length} claim${summary.completed_claims.length === 1 ? '' : 's'})`,
        h(
          'ul',
          null,
          ...summary.completed_claims.map((claim) => {
            const ids = batches.get(claim);
            return h('li', null, 'claim ', h('code', null, claim), ids ? ` · batch${ids.length === 1 ? '' : 'es'} ` : '', ids ? h('code', null, ids.join(', ')) : null);
          }),
        ),
      );
    }

    if (summary.attachments.length) {
      const committed = new Map<string, Record<string, unknown>>();
      for (const event of members) {
        if (event.type === EVENT.attachmentCommitted && isRecord(event.data) && typeof event.data.attachment_id === 'string') committed.set(event.data.attachment_id, event.data);
      }
      part(
        'attachments',
        `Attachments (${summary.attachments.length})`,
        h(
          'ul',
          { class: 'attachments' },
          ...summary.attachments.map((id) => {
            const data = committed.get(id);
            const type = typeof data?.content_type === 'string' ? data.content_type : undefined;
            return h(
              'li',
              { class: 'attachment', attrs: { 'data-attachment': id } },
              h('code', { class: 'id', attrs: { title: id } }, `${id.slice(0, 12)}…`),
              type ? ` ${type}` : '',
              typeof data?.size === 'number' ? ` · ${bytes(data.size)}` : data ? '' : ' · committed by an earlier write',
              ' ',
              downloadButton(this.options.client, this.options.status, this.options.sessionId, id, type),
            );
          }),
        ),
      );
    }

    if (summary.usage.length) {
      part(
        'usage',
        'Usage',
        h(
          'table',
          { class: 'usage' },
          h('thead', null, h('tr', null, h('th', null, 'model'), h('th', { class: 'num' }, 'input'), h('th', { class: 'num' }, 'output'), h('th', { class: 'num' }, 'cost'))),
          h(
            'tbody',
            null,
            ...summary.usage.map((u) =>
              h('tr', null, h('td', null, u.model), h('td', { class: 'num' }, count(u.input_tokens)), h('td', { class: 'num' }, count(u.output_tokens)), h('td', { class: 'num' }, u.cost_usd === undefined ? 'not reported' : usd(u.cost_usd))),
            ),
          ),
        ),
      );
    }
    if (summary.lease_released) parts.push(h('p', { class: 'turn-lease' }, 'The turn released the lease.'));

    const expected = group.seq - summary.first_seq;
    if (members.length < expected) {
      parts.push(h('p', { class: 'hint turn-partial' }, `${expected - members.length} of this turn's ${expected} events are older than the history loaded: "Load older" reads them.`));
    }
    const all = h('details', { class: 'turn-raw' }, h('summary', null, `All ${members.length + 1} events of this turn`));
    const raw = h('ol', { class: 'history-events', attrs: { reversed: '' } });
    raw.append(this.item(group.seq), ...members.reverse().map((event) => this.item(event.seq)));
    all.append(raw);
    parts.push(all);
    group.body.replaceChildren(...parts);
  }
}

function isServerEvent(type: string): boolean {
  return RESERVED_PREFIXES.some((prefix) => type.startsWith(prefix));
}

/** A turn's state change as it was posted: the patch's operations one a line, a merge patch as a tree, a snapshot or binary delta by what it is. */
function stateChange(event: DurableEvent): HTMLElement {
  const data = isRecord(event.data) ? event.data : {};
  if (event.type === EVENT.stateSnapshot) return h('p', null, `Replaced by a new snapshot${typeof data.schema_version === 'number' ? ` (schema version ${data.schema_version})` : ''}.`);
  if (Array.isArray(data.patch)) {
    return h(
      'ol',
      { class: 'patch' },
      ...data.patch.filter(isRecord).map((op) =>
        h(
          'li',
          null,
          h('b', { class: 'op' }, String(op.op ?? '?')),
          ' ',
          h('code', { class: 'path' }, String(op.path ?? '')),
          op.from !== undefined ? [' from ', h('code', { class: 'path' }, String(op.from))] : null,
          op.value !== undefined ? [' ', h('code', { class: 'value' }, jsonText(op.value, 2000))] : null,
        ),
      ),
    );
  }
  if ('merge_patch' in data) return h('div', null, h('p', { class: 'detail' }, 'Merge patch:'), renderTree(data.merge_patch, new Folding(2)));
  if (typeof data.delta_base64 === 'string') return h('p', null, `A binary delta of ${bytes(Math.floor((data.delta_base64.length * 3) / 4))} in the worker's own format.`);
  return h('pre', { class: 'json-text' }, jsonText(data, 4000, 2));
}

/** Makes `parent`'s children exactly `wanted`, in order, moving only nodes out of place (focus and open state stay where nothing moved). */
function reconcile(parent: HTMLElement, wanted: readonly HTMLElement[]): void {
  let cursor = parent.firstChild;
  for (const node of wanted) {
    if (cursor === node) {
      cursor = cursor.nextSibling;
      continue;
    }
    parent.insertBefore(node, cursor);
  }
  while (cursor) {
    const next: ChildNode | null = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}
