/**
 * A session's history, newest first, grouped by turn (turns.ts decides the
 * rows and each turn's parts; this draws them). Each event is one line until
 * opened; opened, its data is a collapsible tree.
 *
 * Each event's element is made once and moved, never rebuilt, so what the
 * viewer opened, and where the keyboard focus is, survives new events.
 */
import type { DurableEvent, SessionSyncClient } from '@session-sync/client';
import { downloadButton } from './attachments.js';
import { h, timeOf } from './dom.js';
import type { ViewStatus } from './status-view.js';
import { Folding } from './folding.js';
import { JsonView, renderTree } from './tree.js';
import { preview, type Row, type StateChange, Timeline, turnHeading, turnParts, type TurnSummary } from './turns.js';
import { type ModelUsage, usageByModel } from './usage.js';

interface Group {
  seq: number;
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
  private readonly timeline = new Timeline();
  private readonly items = new Map<number, HTMLLIElement>();
  private readonly groups = new Map<number, Group>();
  private scheduled = false;

  constructor(private readonly options: HistoryOptions) {}

  add(events: readonly DurableEvent[]): void {
    this.timeline.add(events);
    this.schedule();
  }

  /** The turns loaded, newest first. */
  turns(): TurnSummary[] {
    return this.timeline.turns();
  }

  /** Usage per model over the turns loaded. */
  usageByModel(): Map<string, ModelUsage> {
    return usageByModel(this.turns());
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
    for (const row of this.timeline.rows()) {
      if (row.kind === 'turn') {
        const group = this.group(row);
        const members = this.timeline.members(row.seq);
        if (members.length !== group.built) this.buildTurn(group, row.summary, members);
        wanted.push(group.element);
      } else wanted.push(this.item(row.event));
    }
    reconcile(this.element, wanted);
    this.options.rendered();
  }

  /** One event, one line until opened; its data as a tree once opened (made then, not before). */
  private item(event: DurableEvent): HTMLLIElement {
    const existing = this.items.get(event.seq);
    if (existing) return existing;
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
    const element = h('li', { class: 'event', attrs: { 'data-seq': String(event.seq), 'data-type': event.type } }, details);
    this.items.set(event.seq, element);
    return element;
  }

  private group(row: Extract<Row, { kind: 'turn' }>): Group {
    const existing = this.groups.get(row.seq);
    if (existing) return existing;
    const { summary, event } = row;
    const heading = turnHeading(summary, row.seq);
    const body = h('div', { class: 'turn-body' });
    const details = h(
      'details',
      { class: 'turn-details' },
      h(
        'summary',
        { class: 'turn-summary' },
        'Turn ',
        h('b', { class: 'turn-id' }, summary.turn_id),
        h('span', { class: 'detail' }, heading.detail),
        timeOf(event.created_at),
        heading.usage ? h('span', { class: 'turn-usage' }, heading.usage) : null,
      ),
      body,
    );
    // A turn is what the history is read for: open, its events inside folded.
    details.open = true;
    const element = h('li', { class: 'turn', attrs: { 'data-seq': String(row.seq), 'data-turn-id': summary.turn_id } }, details);
    const group = { seq: row.seq, element, body, built: -1 };
    this.groups.set(row.seq, group);
    return group;
  }

  private buildTurn(group: Group, summary: TurnSummary, members: DurableEvent[]): void {
    group.built = members.length;
    const turn = turnParts(summary, group.seq, members, this.options.json());
    const parts: HTMLElement[] = [];
    const part = (name: string, title: string, ...content: (HTMLElement | string | null)[]) =>
      parts.push(h('section', { class: `turn-part turn-${name}`, attrs: { 'data-part': name } }, h('h5', null, title), ...content));

    const { state } = turn;
    const compare = state.compare;
    part(
      'state',
      state.title,
      state.change ? stateChange(state.change) : h('p', { class: 'hint' }, state.note ?? ''),
      compare
        ? h(
            'button',
            { class: 'small', attrs: { type: 'button', 'data-compare': `${compare.from}-${compare.to}` }, on: { click: () => this.options.compare(compare.from, compare.to) } },
            compare.label,
          )
        : null,
    );

    if (turn.messages) {
      part(
        'messages',
        turn.messages.title,
        h(
          'ol',
          { class: 'turn-messages' },
          ...turn.messages.lines.map((message) =>
            h(
              'li',
              { class: `message role-${message.role.replace(/[^a-z]/g, '')}` },
              h('b', { class: 'role' }, message.role),
              message.kind,
              h('pre', { class: 'content' }, message.content),
            ),
          ),
        ),
      );
    }

    const eventList = (list: DurableEvent[]) =>
      h('ol', { class: 'turn-events' }, ...list.map((event) => h('li', null, h('span', { class: 'type' }, event.type), ' ', renderTree(event.data, new Folding(1)))));
    if (turn.tools) part('tools', turn.tools.title, eventList(turn.tools.events));
    if (turn.events) part('events', turn.events.title, eventList(turn.events.events));

    if (turn.claims) {
      part(
        'claims',
        turn.claims.title,
        h(
          'ul',
          null,
          ...turn.claims.lines.map(({ claim, batches }) =>
            h('li', null, 'claim ', h('code', null, claim), batches ? batches.label : '', batches ? h('code', null, batches.ids) : null),
          ),
        ),
      );
    }

    if (turn.attachments) {
      part(
        'attachments',
        turn.attachments.title,
        h(
          'ul',
          { class: 'attachments' },
          ...turn.attachments.lines.map((line) =>
            h(
              'li',
              { class: 'attachment', attrs: { 'data-attachment': line.id } },
              h('code', { class: 'id', attrs: { title: line.id } }, line.short),
              line.type ? ` ${line.type}` : '',
              line.size,
              ' ',
              downloadButton(this.options.client, this.options.status, this.options.sessionId, line.id, line.type),
            ),
          ),
        ),
      );
    }

    if (turn.usage) {
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
            ...turn.usage.map((u) => h('tr', null, h('td', null, u.model), h('td', { class: 'num' }, u.input), h('td', { class: 'num' }, u.output), h('td', { class: 'num' }, u.cost))),
          ),
        ),
      );
    }
    if (turn.lease) parts.push(h('p', { class: 'turn-lease' }, turn.lease));
    if (turn.partial) parts.push(h('p', { class: 'hint turn-partial' }, turn.partial));
    const all = h('details', { class: 'turn-raw' }, h('summary', null, turn.raw));
    const raw = h('ol', { class: 'history-events', attrs: { reversed: '' } });
    raw.append(this.item(this.timeline.get(group.seq)!), ...[...members].reverse().map((event) => this.item(event)));
    all.append(raw);
    parts.push(all);
    group.body.replaceChildren(...parts);
  }
}

/** A turn's state change as it was posted: the patch's operations one a line, a merge patch as a tree, a snapshot or binary delta by what it is. */
function stateChange(change: StateChange): HTMLElement {
  if (change.kind === 'words') return h('p', null, change.text);
  if (change.kind === 'patch') {
    return h(
      'ol',
      { class: 'patch' },
      ...change.ops.map((op) =>
        h(
          'li',
          null,
          h('b', { class: 'op' }, op.op),
          ' ',
          h('code', { class: 'path' }, op.path),
          op.from !== undefined ? [' from ', h('code', { class: 'path' }, op.from)] : null,
          op.value !== undefined ? [' ', h('code', { class: 'value' }, op.value)] : null,
        ),
      ),
    );
  }
  if (change.kind === 'merge') return h('div', null, h('p', { class: 'detail' }, 'Merge patch:'), renderTree(change.patch, new Folding(2)));
  return h('pre', { class: 'json-text' }, change.text);
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
