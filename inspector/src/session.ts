/**
 * One session: its record (metadata, lease, usage and cost), its state as a
 * tree that follows deltas, time travel and a diff between any two versions,
 * its history grouped by turn and paging back to the start, live text, live
 * events and activity as they arrive, its attachments, queue and messages.
 * Two streams: watchState (the state mirror) and subscribe (history, live
 * events and activity from the session's head on); their status, and any
 * problem, show in this view's own status line.
 */
import type { DurableEvent, Session, SessionSyncClient, StateStore, Subscription } from '@session-sync/client';
import { AttachmentList } from './attachments.js';
import type { Context } from './context.js';
import { diff } from './diff.js';
import { renderDiff } from './diff-view.js';
import { fill, h, momentOf, sessionLink, timeOf } from './dom.js';
import { count, jsonText } from './format.js';
import { History } from './history.js';
import {
  Activities,
  binaryState,
  historyStatus,
  leaseWords,
  liveText,
  NO_LEASE,
  oldestAfterFirstPage,
  readRange,
  recordFields,
  runningText,
  stateLine,
} from './session-text.js';
import { plainWords } from './status.js';
import { ViewStatus } from './status-view.js';
import { throttle } from './timing.js';
import { Folding } from './folding.js';
import { JsonView } from './tree.js';
import { modelCostText, modelsCaption, sessionTotals } from './usage.js';
import { type AtVersion, versionOf, Versions } from './versions.js';

type Messages = Awaited<ReturnType<SessionSyncClient['listMessages']>>['messages'];
type Batches = Awaited<ReturnType<SessionSyncClient['listQueue']>>['batches'];

const HISTORY_PAGE = 50;
const LIVE_ROWS = 200;

function section(id: string, title: string, ...children: (HTMLElement | null)[]): HTMLElement {
  return h('section', { class: 'panel', attrs: { id, 'aria-labelledby': `${id}-title` } }, h('h3', { attrs: { id: `${id}-title` } }, title), ...children);
}

export class SessionView {
  private readonly client: SessionSyncClient;
  private readonly closers: (() => void)[] = [];
  private closed = false;
  private session: Session | undefined;
  private store: StateStore | undefined;
  private subscription: Subscription | undefined;
  readonly status: ViewStatus;
  readonly title: HTMLElement;

  // Record
  private readonly overview = h('dl', { class: 'overview', attrs: { id: 'overview' } });
  private readonly lease = h('p', { attrs: { id: 'lease' } });
  private readonly metadata = new JsonView(new Folding(2), 'metadata');
  private readonly usage = h('div', { attrs: { id: 'usage' } });
  // State
  private readonly stateInfo = h('p', { class: 'state-info', attrs: { id: 'state-info' } });
  private readonly stateTree = h('div', { attrs: { id: 'state-tree' } });
  private readonly stateView = new JsonView(new Folding());
  private readonly recorded = new Versions();
  private travelVersion: number | undefined;
  private readonly travelInput = h('input', { attrs: { id: 'travel-version', type: 'number', min: '0', step: '1', inputmode: 'numeric' } });
  private readonly travelNote = h('p', { class: 'note', attrs: { id: 'travel-note' } });
  private renderScheduled = false;
  // Diff
  private readonly diffFrom = h('input', { attrs: { id: 'diff-from', type: 'number', min: '0', step: '1', inputmode: 'numeric', required: '' } });
  private readonly diffTo = h('input', { attrs: { id: 'diff-to', type: 'number', min: '0', step: '1', inputmode: 'numeric', required: '' } });
  private readonly diffNote = h('p', { class: 'note', attrs: { id: 'diff-note' } });
  private readonly diffOut = h('div', { class: 'diff-out', attrs: { id: 'diff-out', tabindex: '-1' } });
  private diffAsked = 0;
  // Live
  private readonly activityNow = h('p', { attrs: { id: 'activity' } });
  private readonly activityLog = h('ol', { class: 'log', attrs: { id: 'activity-log', reversed: '' } });
  private readonly activityNone = h('p', { class: 'hint', attrs: { id: 'activity-none' } }, 'No change since this page opened.');
  private readonly running = h('pre', { class: 'running', attrs: { id: 'running-text' } });
  private readonly runningPart = h('div', { attrs: { id: 'live-text-part' } }, h('h4', null, 'Live text'), this.running);
  private readonly liveLog = h('ol', { class: 'log', attrs: { id: 'live-events', reversed: '' } });
  private readonly livePart = h('div', { attrs: { id: 'live-events-part' } }, h('h4', null, 'Live events'), this.liveLog);
  private readonly liveNone = h(
    'p',
    { class: 'hint', attrs: { id: 'live-none' } },
    'Nothing published since this page opened. Live text and live events are never stored: only what is sent while the page is open shows here.',
  );
  private readonly activities = new Activities();
  // History
  private readonly history: History;
  private readonly historyStatus = h('p', { attrs: { id: 'history-status' } });
  private readonly older = h('button', { attrs: { type: 'button', id: 'history-older' } }, 'Load older');
  private oldestShown: number | undefined;
  // Attachments, queue and messages
  private readonly attachments: AttachmentList;
  private readonly queue = h('div', { attrs: { id: 'queue' } });
  private readonly messages = h('div', { attrs: { id: 'messages' } });
  // Events can come by the thousand: their follow-up reads are made at most a few times a second.
  private readonly refreshRecord = throttle(() => void this.loadRecord(), 250);
  private readonly refreshQueue = throttle(() => void this.loadQueue(), 250);
  private readonly refreshMessages = throttle(() => void this.loadMessages(), 250);
  private readonly refreshAttachments = throttle(() => void this.attachments.refresh(), 250);

  constructor(
    private readonly context: Context,
    private readonly root: HTMLElement,
    private readonly id: string,
  ) {
    this.client = context.client;
    this.status = new ViewStatus(context, 'session', 'This session', id);
    this.title = h('h2', { attrs: { id: 'session-title', tabindex: '-1' } }, id);
    this.history = new History({
      client: this.client,
      status: this.status,
      sessionId: id,
      json: () => this.session?.encoding !== 'binary',
      compare: (from, to) => this.compare(from, to, true),
      rendered: () => this.showUsage(),
    });
    this.attachments = new AttachmentList(this.client, this.status, id, () => this.closed);
    this.older.addEventListener('click', () => void this.loadOlder());
    const travel = h(
      'form',
      { class: 'travel', attrs: { id: 'travel' } },
      h('label', null, 'Version ', this.travelInput),
      h('button', { attrs: { type: 'submit' } }, 'Show'),
      h('button', { attrs: { type: 'button', id: 'travel-live' }, on: { click: () => this.travelTo(undefined) } }, 'Live'),
    );
    travel.addEventListener('submit', (event) => {
      event.preventDefault();
      const version = versionOf(this.travelInput.value);
      if (version !== undefined) this.travelTo(version);
    });
    const compare = h(
      'form',
      { class: 'travel', attrs: { id: 'diff-form' } },
      h('label', null, 'From ', this.diffFrom),
      h('label', null, 'to ', this.diffTo),
      h('button', { attrs: { type: 'submit' } }, 'Compare'),
    );
    compare.addEventListener('submit', (event) => {
      event.preventDefault();
      // Both fields are required: the form is not sent while either is empty.
      const from = versionOf(this.diffFrom.value);
      const to = versionOf(this.diffTo.value);
      if (from !== undefined && to !== undefined) this.compare(from, to, false);
    });
    this.runningPart.hidden = true;
    this.livePart.hidden = true;
    const tick = setInterval(() => this.showLease(), 1000);
    this.closers.push(() => clearInterval(tick));
    fill(
      root,
      h('a', { class: 'back', attrs: { href: '#/' } }, '← All sessions'),
      this.title,
      this.status.line,
      this.status.problems,
      h(
        'div',
        { class: 'panels' },
        section('panel-record', 'Session', this.overview, h('h4', null, 'Lease'), this.lease, h('h4', null, 'Metadata'), this.metadata.element),
        section('panel-usage', 'Usage and cost', this.usage),
        section('panel-state', 'State', this.stateInfo, travel, this.travelNote, this.stateTree),
        section(
          'panel-diff',
          'Compare versions',
          h('p', { class: 'hint' }, 'What changed in the state between two versions: added (+), removed (−) and changed (~) values, by JSON Pointer.'),
          compare,
          this.diffNote,
          this.diffOut,
        ),
        section('panel-live', 'Live', this.activityNow, this.runningPart, this.livePart, this.liveNone, h('h4', null, 'Activity changes'), this.activityNone, this.activityLog),
        section('panel-history', 'History', h('p', { class: 'hint' }, 'Newest first. A turn shows its parts together; open an event to see its data.'), this.history.element, this.historyStatus, this.older),
        section('panel-attachments', 'Attachments', this.attachments.element),
        section('panel-queue', 'Queue', this.queue),
        section('panel-messages', 'Messages', this.messages),
      ),
    );
    void this.start(id);
  }

  close(): void {
    this.closed = true;
    this.subscription?.close();
    this.store?.close();
    this.status.close();
    for (const close of this.closers) close();
    this.refreshRecord.cancel();
    this.refreshQueue.cancel();
    this.refreshMessages.cancel();
    this.refreshAttachments.cancel();
  }

  private async start(id: string): Promise<void> {
    this.stateInfo.textContent = 'loading…';
    this.historyStatus.textContent = 'loading…';
    let session: Session;
    try {
      session = await this.client.getSession(id);
    } catch (error) {
      if (this.closed) return;
      this.cannotOpen(error);
      return;
    }
    if (this.closed) return;
    this.status.ok('Session');
    this.showRecord(session);
    // History up to the head read now; the stream delivers everything after it, each event once.
    void this.loadHistory(session.last_seq);
    this.subscription = this.client.subscribe(
      id,
      { after: session.last_seq },
      {
        onEvent: (event) => this.onEvent(event),
        onLive: ({ type, data }) => this.onLive(type, data),
        onActivity: (activity) => this.onActivity(activity),
        onStatus: (status) => this.status.stream('stream', status),
        onError: (error) => this.status.stream('stream', 'closed', error),
      },
    );
    if (session.encoding === 'binary') {
      // Binary state is the worker's own format: there is no tree to show, only its size and version.
      this.root.querySelector('#panel-diff')?.setAttribute('hidden', '');
      void this.showBinaryState();
    } else {
      this.store = this.client.watchState(id);
      this.store.subscribe(() => this.onState());
      this.onState();
    }
    void this.attachments.refresh();
    void this.loadQueue();
    void this.loadMessages();
  }

  /** The session could not be read at all: say why where it would have been, and offer to try again. */
  private cannotOpen(error: unknown): void {
    this.context.failed(error);
    this.status.stream('stream', 'closed', 'it could not be opened (why is below)');
    const again = h('button', { attrs: { type: 'button', id: 'session-retry' } }, 'Try again');
    const panels = this.root.querySelector('.panels');
    panels?.setAttribute('hidden', '');
    const problem = h('div', { class: 'cannot-open', attrs: { id: 'session-problem' } }, h('p', { class: 'problem' }, plainWords(error, this.id)), again);
    panels?.before(problem);
    again.addEventListener('click', () => {
      problem.remove();
      panels?.removeAttribute('hidden');
      this.status.stream('stream', 'connecting');
      void this.start(this.id);
    });
  }

  // --- the record: overview, lease, metadata, usage ---

  private async loadRecord(): Promise<void> {
    if (this.closed) return;
    try {
      const session = await this.client.getSession(this.id);
      if (this.closed) return;
      this.status.ok('Session');
      this.showRecord(session);
    } catch (error) {
      if (!this.closed) this.status.problem('Session', error);
    }
  }

  private showRecord(session: Session): void {
    this.session = session;
    const value = (field: ReturnType<typeof recordFields>[number][1]) => ('session' in field ? sessionLink(field.session) : 'time' in field ? timeOf(field.time) : field.text);
    fill(this.overview, ...recordFields(session).flatMap(([term, field]) => [h('dt', null, term), h('dd', { attrs: { 'data-field': term } }, value(field))]));
    this.metadata.set(session.metadata);
    this.showLease();
    this.showUsage();
  }

  private showLease(): void {
    const lease = this.session?.lease;
    if (!lease) {
      this.lease.textContent = NO_LEASE;
      return;
    }
    const words = leaseWords(lease);
    fill(this.lease, 'Held by ', h('b', { attrs: { id: 'lease-owner' } }, lease.owner), words.token, timeOf(lease.expires_at), words.expiry);
  }

  /**
   * The session's usage totals as the server keeps them, and per model over
   * the turns in the loaded history. Costs are what workers reported with
   * each turn (`cost_usd`): the server knows no prices and computes none.
   */
  private showUsage(): void {
    const usage = this.session?.usage;
    if (!usage) return;
    const totals = sessionTotals(usage);
    if (!totals) {
      fill(this.usage, h('p', { class: 'hint' }, 'No turns committed yet: workers report usage and cost with each turn (POST …/turns).'));
      return;
    }
    const models = this.history.usageByModel();
    fill(
      this.usage,
      h('dl', { class: 'totals', attrs: { id: 'usage-totals' } }, ...totals.flatMap(([term, value]) => [h('dt', null, term), h('dd', { attrs: { 'data-field': term } }, value)])),
      h('p', { class: 'hint' }, 'Cost as the workers reported it with each turn (cost_usd); the server adds it up and computes no prices of its own.'),
      models.size
        ? h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'usage', attrs: { id: 'usage-models' } },
              h('caption', null, modelsCaption(this.history.turns().length, usage.turns)),
              h('thead', null, h('tr', null, h('th', null, 'model'), h('th', { class: 'num' }, 'turns'), h('th', { class: 'num' }, 'input'), h('th', { class: 'num' }, 'output'), h('th', { class: 'num' }, 'cost'))),
              h(
                'tbody',
                null,
                ...[...models].map(([model, u]) =>
                  h(
                    'tr',
                    { attrs: { 'data-model': model } },
                    h('td', null, model),
                    h('td', { class: 'num' }, count(u.turns)),
                    h('td', { class: 'num' }, count(u.input_tokens)),
                    h('td', { class: 'num' }, count(u.output_tokens)),
                    h('td', { class: 'num' }, modelCostText(u)),
                  ),
                ),
              ),
            ),
          )
        : null,
    );
  }

  // --- state, time travel and diffs ---

  private async showBinaryState(): Promise<void> {
    if (this.closed) return;
    this.root.querySelector('#travel')?.setAttribute('hidden', '');
    try {
      const answer = await this.client.sync(this.id);
      if (this.closed) return;
      fill(this.stateInfo, 'version ', h('b', { attrs: { id: 'state-version' } }, answer.version), ' · binary');
      fill(this.stateTree, h('p', { class: 'hint' }, binaryState(answer as Parameters<typeof binaryState>[0])));
      this.status.ok('State');
    } catch (error) {
      if (!this.closed) this.status.problem('State', error);
    }
  }

  private onState(): void {
    const snapshot = this.store?.getSnapshot();
    if (!snapshot) return;
    this.status.stream('state', snapshot.status, snapshot.error);
    if (snapshot.status !== 'loading' && this.recorded.record(snapshot.version, snapshot.state)) {
      // The diff starts on the latest change, until the viewer picks versions.
      if (this.diffAsked === 0 && snapshot.version > 0) {
        this.diffFrom.value = String(snapshot.version - 1);
        this.diffTo.value = String(snapshot.version);
      }
    }
    this.scheduleRender();
  }

  private scheduleRender(): void {
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    requestAnimationFrame(() => {
      this.renderScheduled = false;
      if (!this.closed) this.renderState();
    });
  }

  private showState(state: unknown, empty: string): void {
    if (state === null) {
      fill(this.stateTree, h('p', { class: 'hint' }, empty));
      return;
    }
    this.stateView.set(state);
    if (this.stateView.element.parentElement !== this.stateTree) fill(this.stateTree, this.stateView.element);
  }

  private renderState(): void {
    const snapshot = this.store?.getSnapshot();
    if (!snapshot) return;
    this.travelInput.max = String(snapshot.version);
    if (this.travelVersion !== undefined) return;
    const line = stateLine(snapshot, this.id);
    if ('loading' in line) {
      this.stateInfo.textContent = line.loading;
      return;
    }
    fill(this.stateInfo, 'version ', h('b', { attrs: { id: 'state-version' } }, snapshot.version), ` · seq ${snapshot.seq} · `, h('span', { attrs: { id: 'state-status' } }, line.status));
    if (line.problem !== undefined) {
      fill(this.stateTree, h('p', { class: 'problem' }, line.problem));
      return;
    }
    this.showState(snapshot.state, 'No state yet (version 0).');
  }

  /** The state at `version` (versions.ts): rejects with the reason in words. */
  private stateAt(version: number) {
    const head = this.store?.getSnapshot().version ?? 0;
    return this.recorded.at(
      version,
      head,
      (at) => this.client.sync(this.id, { at_version: at }) as Promise<AtVersion>,
      this.id,
      (error) => this.context.failed(error),
    );
  }

  /** Shows the state at `version` (undefined: back to live). */
  private travelTo(version: number | undefined): void {
    this.travelVersion = version;
    if (version === undefined) {
      this.travelNote.textContent = '';
      this.travelInput.value = '';
      this.renderState();
      return;
    }
    const head = this.store?.getSnapshot().version ?? 0;
    fill(this.stateInfo, 'showing version ', h('b', { attrs: { id: 'state-version' } }, version), ` of ${head} (not live; press Live to follow again)`);
    this.travelNote.textContent = `Reading version ${version}…`;
    fill(this.stateTree);
    this.stateAt(version).then(
      (found) => {
        if (this.travelVersion !== version || this.closed) return;
        this.travelNote.textContent = this.recorded.note(version, found);
        this.showState(found.state, 'No state at this version.');
      },
      (error: unknown) => {
        if (this.travelVersion !== version || this.closed) return;
        this.travelNote.textContent = error instanceof Error ? error.message : String(error);
      },
    );
  }

  /** The diff between two versions; from a turn's button, the panel comes into view with the keyboard focus on its answer. */
  private compare(from: number, to: number, bring: boolean): void {
    const asked = ++this.diffAsked;
    this.diffFrom.value = String(from);
    this.diffTo.value = String(to);
    this.diffNote.textContent = `Reading versions ${from} and ${to}…`;
    fill(this.diffOut);
    if (bring) this.root.querySelector('#panel-diff')?.scrollIntoView({ block: 'start' });
    Promise.all([this.stateAt(from), this.stateAt(to)]).then(
      ([before, after]) => {
        if (asked !== this.diffAsked || this.closed) return;
        this.diffNote.textContent = `From version ${from} (${before.source}) to version ${to} (${after.source}):`;
        fill(this.diffOut, renderDiff(diff(before.state, after.state)));
        if (bring) this.diffOut.focus();
      },
      (error: unknown) => {
        if (asked !== this.diffAsked || this.closed) return;
        this.diffNote.textContent = error instanceof Error ? error.message : String(error);
      },
    );
  }

  // --- history ---

  /** The newest page at or below `head`. */
  private async loadHistory(head: number): Promise<void> {
    const events = await this.readRange(Math.max(0, head - HISTORY_PAGE), head);
    if (events === undefined) return;
    this.history.add(events);
    this.oldestShown = oldestAfterFirstPage(events, head);
    this.showHistoryStatus();
  }

  private async loadOlder(): Promise<void> {
    if (this.oldestShown === undefined || this.oldestShown <= 1) return;
    this.older.disabled = true;
    const below = this.oldestShown - 1;
    const events = await this.readRange(Math.max(0, below - HISTORY_PAGE), below);
    this.older.disabled = false;
    if (events === undefined) return;
    this.history.add(events);
    this.oldestShown = events[0]?.seq ?? this.oldestShown;
    this.showHistoryStatus();
  }

  /** Events in (after, upTo], in seq order: pages end early at the server's byte bound, so it reads on until there. */
  private async readRange(after: number, upTo: number): Promise<DurableEvent[] | undefined> {
    try {
      const events = await readRange(after, upTo, (cursor, limit) => this.client.listEvents(this.id, { after: cursor, limit }), () => this.closed);
      if (events === undefined) return undefined;
      this.status.ok('History');
      return events;
    } catch (error) {
      if (this.closed) return undefined;
      this.status.problem('History', error);
      this.historyStatus.textContent = 'The history could not be read (see above); "Load older" tries again.';
      this.older.hidden = false;
      return undefined;
    }
  }

  private showHistoryStatus(): void {
    const { text, atStart } = historyStatus(this.oldestShown);
    this.historyStatus.textContent = text;
    this.older.hidden = atStart;
  }

  private onEvent(event: DurableEvent): void {
    this.history.add([event]);
    if (event.type.startsWith('queue.')) this.refreshQueue();
    if (event.type.startsWith('message.')) this.refreshMessages();
    if (event.type.startsWith('attachment.')) this.refreshAttachments();
    if (event.type.startsWith('state.') && this.session?.encoding === 'binary') void this.showBinaryState();
    // Every event moves last_seq; lease, metadata and usage changes are in the record too.
    this.refreshRecord();
  }

  // --- live events and activity ---

  private onLive(type: string, data: unknown): void {
    this.liveNone.hidden = true;
    const text = liveText(data);
    if (text !== undefined) {
      // Fragments read as running text; the tail is kept.
      this.runningPart.hidden = false;
      this.running.textContent = runningText(this.running.textContent ?? '', text);
      return;
    }
    this.livePart.hidden = false;
    this.liveLog.prepend(h('li', null, momentOf(new Date()), ' ', h('span', { class: 'type' }, type), ' ', h('code', null, jsonText(data, 2000))));
    while (this.liveLog.childElementCount > LIVE_ROWS) this.liveLog.lastElementChild?.remove();
  }

  /** The activity now, and in the log when it is a change (session-text.ts, Activities, says which). */
  private onActivity(activity: { status?: string; detail?: unknown; expired?: boolean; cursor?: number }): void {
    const seen = this.activities.see(activity);
    fill(
      this.activityNow,
      'Activity: ',
      h('b', { attrs: { id: 'activity-status' } }, seen.status),
      seen.detail ? ' — ' : '',
      h('span', { attrs: { id: 'activity-detail' } }, seen.detail),
      seen.expired ? ' (expired: no refresh within its ttl)' : '',
    );
    // A new turn of the agent starts a new paragraph of live text.
    if (seen.newStatus && this.running.textContent) this.running.textContent += '\n\n';
    if (!seen.change) return;
    this.activityNone.hidden = true;
    this.activityLog.prepend(h('li', null, momentOf(new Date()), ' ', h('b', null, seen.status), seen.detail ? ` — ${seen.detail}` : '', seen.expired ? ' (expired)' : ''));
    while (this.activityLog.childElementCount > LIVE_ROWS) this.activityLog.lastElementChild?.remove();
  }

  // --- queue and messages ---

  private async loadQueue(): Promise<void> {
    if (this.closed) return;
    let batches: Batches;
    try {
      batches = (await this.client.listQueue(this.id)).batches;
    } catch (error) {
      if (this.closed) return;
      this.status.problem('Queue', error);
      fill(this.queue, h('p', { class: 'problem' }, 'The queue could not be read (see above).'));
      return;
    }
    if (this.closed) return;
    this.status.ok('Queue');
    if (batches.length === 0) return fill(this.queue, h('p', { class: 'hint' }, 'No queued batches.'));
    fill(
      this.queue,
      h(
        'ol',
        { class: 'batches' },
        ...batches.map((batch) =>
          h(
            'li',
            { attrs: { 'data-batch': batch.batch_id } },
            h('div', { class: 'meta' }, h('b', null, batch.status), ' · ', timeOf(batch.created_at), ' · ', h('code', { class: 'id' }, batch.batch_id)),
            h('pre', { class: 'json' }, jsonText(batch.items, 4000, 2)),
          ),
        ),
      ),
    );
  }

  private async loadMessages(): Promise<void> {
    if (this.closed) return;
    let messages: Messages;
    try {
      messages = (await this.client.listMessages(this.id, { order: 'desc', limit: 100 })).messages;
    } catch (error) {
      if (this.closed) return;
      this.status.problem('Messages', error);
      fill(this.messages, h('p', { class: 'problem' }, 'The messages could not be read (see above).'));
      return;
    }
    if (this.closed) return;
    this.status.ok('Messages');
    if (messages.length === 0) return fill(this.messages, h('p', { class: 'hint' }, 'No messages.'));
    fill(
      this.messages,
      h(
        'ol',
        { class: 'messages', attrs: { reversed: '' } },
        ...messages.map((message) =>
          h(
            'li',
            { class: `message role-${message.role}` },
            h('div', { class: 'meta' }, h('b', null, message.role), ` ${message.kind} · seq ${message.seq} · `, timeOf(message.created_at)),
            h('pre', { class: 'content' }, typeof message.content === 'string' ? message.content : jsonText(message.content, 20_000, 2)),
          ),
        ),
      ),
      messages.length === 100 ? h('p', { class: 'hint' }, 'The newest 100 messages.') : null,
    );
  }
}

