/**
 * One session: its record (metadata, lease, activity), its state as a tree
 * that follows deltas, time travel, its history paging back to the start,
 * live events and activity as they arrive, its queue and its messages.
 * Two streams: watchState (the state mirror) and subscribe (history, live
 * events and activity from the session's head on).
 */
import type { DurableEvent, Session, SessionSyncClient, StateStore, Subscription } from '@session-sync/client';
import { applyJsonPatch, applyMergePatch } from '../../client/src/patch.js';
import type { Context } from './context.js';
import { describeError, fill, h, jsonText, relative, sessionLink, throttle, timeOf } from './dom.js';
import { Folding, renderTree } from './tree.js';
import { CLIENT_ERROR, PROBLEM } from '@session-sync/client';

type Messages = Awaited<ReturnType<SessionSyncClient['listMessages']>>['messages'];
type Batches = Awaited<ReturnType<SessionSyncClient['listQueue']>>['batches'];

const HISTORY_PAGE = 50;
/** States this page saw, kept for time travel (the newest ones). */
const RECORDED_VERSIONS = 1000;
/** Running text of live fragments kept on screen (the tail). */
const RUNNING_TEXT_CHARS = 50_000;
const LIVE_ROWS = 200;

function section(id: string, title: string, ...children: HTMLElement[]): HTMLElement {
  return h('section', { class: 'panel', attrs: { id } }, h('h3', null, title), ...children);
}

export class SessionView {
  private readonly client: SessionSyncClient;
  private readonly closers: (() => void)[] = [];
  private closed = false;
  private session: Session | undefined;
  private store: StateStore | undefined;
  private subscription: Subscription | undefined;

  // Record
  private readonly overview = h('dl', { class: 'overview', attrs: { id: 'overview' } });
  private readonly lease = h('p', { attrs: { id: 'lease' } });
  private readonly metadata = h('pre', { class: 'json', attrs: { id: 'metadata' } });
  // State
  private readonly stateInfo = h('p', { class: 'state-info', attrs: { id: 'state-info' } });
  private readonly stateTree = h('div', { attrs: { id: 'state-tree' } });
  private readonly folding = new Folding();
  private readonly recorded = new Map<number, unknown>();
  private firstRecorded: number | undefined;
  private travelVersion: number | undefined;
  private readonly travelInput = h('input', { attrs: { id: 'travel-version', type: 'number', min: '0', step: '1' } });
  private readonly travelNote = h('p', { class: 'note', attrs: { id: 'travel-note' } });
  private renderScheduled = false;
  // Live
  private readonly activityNow = h('p', { attrs: { id: 'activity' } });
  private readonly activityLog = h('ol', { class: 'log', attrs: { id: 'activity-log', reversed: '' } });
  private readonly running = h('pre', { class: 'running', attrs: { id: 'running-text' } });
  private readonly liveLog = h('ol', { class: 'log', attrs: { id: 'live-events', reversed: '' } });
  private lastActivityStatus: string | undefined;
  // History
  private readonly historyBody = h('tbody', { attrs: { id: 'history' } });
  private readonly historyStatus = h('p', { attrs: { id: 'history-status' } });
  private readonly older = h('button', { attrs: { type: 'button', id: 'history-older' } }, 'Load older');
  private oldestShown: number | undefined;
  // Queue and messages
  private readonly queue = h('div', { attrs: { id: 'queue' } });
  private readonly messages = h('div', { attrs: { id: 'messages' } });
  // Events can come by the thousand: their follow-up reads are made at most a few times a second.
  private readonly refreshRecord = throttle(() => void this.loadRecord(), 250);
  private readonly refreshQueue = throttle(() => void this.loadQueue(), 250);
  private readonly refreshMessages = throttle(() => void this.loadMessages(), 250);

  constructor(
    private readonly context: Context,
    private readonly root: HTMLElement,
    private readonly id: string | undefined,
  ) {
    this.client = context.client;
    if (id === undefined) {
      fill(root, h('p', { class: 'hint' }, 'Pick a session on the left. Its state, history, live events, lease, queue and messages show here, live.'));
      return;
    }
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
      const version = Number(this.travelInput.value);
      if (Number.isInteger(version) && version >= 0) this.travelTo(version);
    });
    const tick = setInterval(() => this.showLease(), 1000);
    this.closers.push(() => clearInterval(tick));
    fill(
      root,
      h('h2', { attrs: { id: 'session-title' } }, id),
      h(
        'div',
        { class: 'panels' },
        section('panel-record', 'Session', this.overview, h('h4', null, 'Lease'), this.lease, h('h4', null, 'Metadata'), this.metadata),
        section('panel-state', 'State', this.stateInfo, travel, this.travelNote, this.stateTree),
        section(
          'panel-live',
          'Live',
          this.activityNow,
          h('h4', null, 'Live text'),
          this.running,
          h('h4', null, 'Live events'),
          this.liveLog,
          h('h4', null, 'Activity changes'),
          this.activityLog,
        ),
        section(
          'panel-history',
          'History',
          h('table', { class: 'history' }, h('thead', null, h('tr', null, h('th', null, 'seq'), h('th', null, 'type'), h('th', null, 'time'), h('th', null, 'data'))), this.historyBody),
          this.historyStatus,
          this.older,
        ),
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
    for (const close of this.closers) close();
    this.refreshRecord.cancel();
    this.refreshQueue.cancel();
    this.refreshMessages.cancel();
    for (const name of ['session stream', 'state mirror', 'Session', 'State', 'History', 'Queue', 'Messages', 'Session stream']) this.context.forget(name);
  }

  private async start(id: string): Promise<void> {
    this.stateInfo.textContent = 'loading…';
    this.historyStatus.textContent = 'loading…';
    let session: Session;
    try {
      session = await this.client.getSession(id);
    } catch (error) {
      if (this.closed) return;
      this.context.error('Session', error);
      fill(this.root, h('h2', { attrs: { id: 'session-title' } }, id), h('p', { class: 'problem', attrs: { id: 'session-problem' } }, `This session cannot be shown: ${describeError(error)}`));
      return;
    }
    if (this.closed) return;
    this.context.ok('Session');
    this.showRecord(session);
    // History up to the head read now; the stream delivers everything after it, each event once.
    void this.loadHistory(session.last_seq);
    this.subscription = this.client.subscribe(id, { after: session.last_seq }, {
      onEvent: (event) => this.onEvent(event),
      onLive: ({ type, data }) => this.onLive(type, data),
      onActivity: (activity) => this.onActivity(activity),
      onStatus: (status) => this.context.connection('session stream', status),
      onError: (error) => {
        this.context.connection('session stream', 'closed', error.code === CLIENT_ERROR.sessionDeleted ? 'the session was deleted' : 'the session stream ended');
        this.context.error('Session stream', error);
      },
    });
    if (session.encoding === 'binary') {
      // Binary state is the worker's own format: there is no tree to show, only its size and version.
      void this.showBinaryState();
    } else {
      this.store = this.client.watchState(id);
      this.store.subscribe(() => this.onState());
      this.onState();
    }
    void this.loadQueue();
    void this.loadMessages();
  }

  // --- the record: overview, lease, metadata ---

  private async loadRecord(): Promise<void> {
    if (this.closed || this.id === undefined) return;
    try {
      const session = await this.client.getSession(this.id);
      if (this.closed) return;
      this.context.ok('Session');
      this.showRecord(session);
    } catch (error) {
      if (!this.closed) this.context.error('Session', error);
    }
  }

  private showRecord(session: Session): void {
    this.session = session;
    const rows: [string, Node | string | number][] = [
      ['parent', session.parent_id ? sessionLink(session.parent_id) : '—'],
      ['encoding', session.encoding],
      ['schema version', session.schema_version ?? '—'],
      ['version', session.version],
      ['last seq', session.last_seq],
      ['created', timeOf(session.created_at)],
      ['updated', timeOf(session.updated_at)],
    ];
    fill(this.overview, ...rows.flatMap(([term, value]) => [h('dt', null, term), h('dd', { attrs: { 'data-field': term } }, value)]));
    this.metadata.textContent = jsonText(session.metadata, 20_000, 2);
    this.showLease();
  }

  private showLease(): void {
    const lease = this.session?.lease;
    if (!lease) {
      this.lease.textContent = 'No lease: any writer may write.';
      return;
    }
    fill(
      this.lease,
      'Held by ',
      h('b', { attrs: { id: 'lease-owner' } }, lease.owner),
      ` (fencing token ${lease.fencing_token}), expires `,
      timeOf(lease.expires_at),
      ` (${relative(lease.expires_at)})`,
    );
  }

  // --- state and time travel ---

  private async showBinaryState(): Promise<void> {
    if (this.closed || this.id === undefined) return;
    this.root.querySelector('#travel')?.setAttribute('hidden', '');
    try {
      const answer = await this.client.sync(this.id);
      if (this.closed) return;
      const base64 = 'snapshot_base64' in answer ? String(answer.snapshot_base64 ?? '') : '';
      const deltas = 'deltas' in answer ? (answer.deltas ?? []).length : 0;
      const bytes = Math.floor((base64.length * 3) / 4) - (base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0);
      fill(this.stateInfo, 'version ', h('b', { attrs: { id: 'state-version' } }, answer.version), ' · binary');
      fill(
        this.stateTree,
        h('p', { class: 'hint' }, answer.mode === 'new' ? 'No state yet (version 0).' : `Binary state: a snapshot of ${bytes} bytes and ${deltas} delta(s) after it, in the worker's own format (shown by version only; it follows state events).`),
      );
      this.context.ok('State');
    } catch (error) {
      if (!this.closed) this.context.error('State', error);
    }
  }

  private onState(): void {
    const snapshot = this.store?.getSnapshot();
    if (!snapshot) return;
    this.context.connection('state mirror', snapshot.status, snapshot.error ? describeError(snapshot.error) : undefined);
    if (snapshot.error) this.context.error('State', snapshot.error);
    if (snapshot.status !== 'loading' && !this.recorded.has(snapshot.version)) {
      this.recorded.set(snapshot.version, snapshot.state);
      this.firstRecorded ??= snapshot.version;
      if (this.recorded.size > RECORDED_VERSIONS) {
        const oldest = this.recorded.keys().next().value as number;
        this.recorded.delete(oldest);
        this.firstRecorded = this.recorded.keys().next().value as number;
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

  private renderState(): void {
    const snapshot = this.store?.getSnapshot();
    if (!snapshot) return;
    this.travelInput.max = String(snapshot.version);
    if (this.travelVersion !== undefined) return;
    if (snapshot.status === 'loading') {
      this.stateInfo.textContent = snapshot.error ? `cannot load the state: ${describeError(snapshot.error)}` : 'loading…';
      return;
    }
    const status = snapshot.error ? `${snapshot.status}: ${describeError(snapshot.error)}` : snapshot.status;
    fill(this.stateInfo, 'version ', h('b', { attrs: { id: 'state-version' } }, snapshot.version), ` · seq ${snapshot.seq} · `, h('span', { attrs: { id: 'state-status' } }, status));
    if (snapshot.error && snapshot.version === 0 && snapshot.state === null) {
      fill(this.stateTree, h('p', { class: 'problem' }, describeError(snapshot.error)));
      return;
    }
    fill(this.stateTree, snapshot.state === null ? h('p', { class: 'hint' }, 'No state yet (version 0).') : renderTree(snapshot.state, this.folding));
  }

  /**
   * Shows the state at `version` (undefined: back to live). A version this page
   * saw is exact; an older one needs the server's `?at_version=` (time
   * travel), which is asked for and, when the server does not have it, said so.
   */
  private travelTo(version: number | undefined): void {
    this.travelVersion = version;
    if (version === undefined) {
      this.travelNote.textContent = '';
      this.travelInput.value = '';
      this.renderState();
      return;
    }
    const head = this.store?.getSnapshot().version ?? 0;
    if (version > head) {
      this.travelNote.textContent = `Version ${version} does not exist yet (the head is ${head}).`;
      return;
    }
    fill(this.stateInfo, 'showing version ', h('b', { attrs: { id: 'state-version' } }, version), ` of ${head} (not live; press Live to follow again)`);
    if (this.recorded.has(version)) {
      this.travelNote.textContent = `Version ${version} as this page saw it (it records every version from ${this.firstRecorded} on, since it opened).`;
      const state = this.recorded.get(version);
      fill(this.stateTree, state === null ? h('p', { class: 'hint' }, 'No state at this version.') : renderTree(state, this.folding));
      return;
    }
    this.travelNote.textContent = `Asking the server for version ${version}…`;
    fill(this.stateTree);
    void this.fetchVersion(version);
  }

  /** Whether this server's sync takes `?at_version=` (read once from its own OpenAPI document, so no request is made to be refused). */
  private static atVersion: Promise<boolean | undefined> | undefined;
  private serverTravels(): Promise<boolean | undefined> {
    SessionView.atVersion ??= fetch('/openapi.json')
      .then((response) => (response.ok ? response.json() : undefined))
      .then((document: { paths?: Record<string, { get?: { parameters?: { name?: string }[] } }> } | undefined) => {
        const parameters = document?.paths?.['/v1/sessions/{id}/state']?.get?.parameters;
        return parameters ? parameters.some((parameter) => parameter.name === 'at_version') : undefined;
      })
      .catch(() => undefined);
    return SessionView.atVersion;
  }

  private cannotTravel(version: number): string {
    const since = this.firstRecorded === undefined ? '' : ` This page has every version from ${this.firstRecorded} on (since it opened).`;
    return `Version ${version} is older than this page's recording, and this server cannot show past versions: that needs its ?at_version= time travel (API.md, History lifecycle), which it does not serve yet.${since}`;
  }

  private async fetchVersion(version: number): Promise<void> {
    if (this.id === undefined) return;
    if ((await this.serverTravels()) === false) {
      if (this.travelVersion === version) this.travelNote.textContent = this.cannotTravel(version);
      return;
    }
    try {
      // `at_version` is the server's time travel (API.md, History lifecycle); older servers refuse the parameter.
      const answer = (await this.client.sync(this.id, { at_version: version } as never)) as { mode: string; snapshot?: unknown; deltas?: unknown[] };
      if (this.travelVersion !== version) return;
      let state: unknown = answer.snapshot ?? null;
      for (const delta of answer.deltas ?? []) {
        const d = delta as { patch?: Parameters<typeof applyJsonPatch>[1]; merge_patch?: unknown };
        state = d.patch ? applyJsonPatch(state, d.patch) : applyMergePatch(state, d.merge_patch);
      }
      this.travelNote.textContent = `Version ${version} from the server (?at_version=${version}).`;
      fill(this.stateTree, answer.mode === 'new' || state === null ? h('p', { class: 'hint' }, 'No state at this version.') : renderTree(state, this.folding));
    } catch (error) {
      if (this.travelVersion !== version) return;
      const code = (error as { code?: string; status?: number }).code;
      const status = (error as { status?: number }).status;
      const since = this.firstRecorded === undefined ? '' : ` This page has every version from ${this.firstRecorded} on (since it opened).`;
      if (status === 400 && code === PROBLEM.invalidRequest) {
        this.travelNote.textContent = this.cannotTravel(version);
      } else if (code === PROBLEM.versionExpired) {
        this.travelNote.textContent = `Version ${version} is no longer kept by the server (its history was trimmed).${since}`;
      } else {
        this.travelNote.textContent = `Could not read version ${version}: ${describeError(error)}`;
      }
    }
  }

  // --- history ---

  private historyRow(event: DurableEvent): HTMLTableRowElement {
    return h(
      'tr',
      { attrs: { 'data-seq': String(event.seq) } },
      h('td', { class: 'num' }, event.seq),
      h('td', { class: 'type' }, event.type, typeof event.version === 'number' ? h('span', { class: 'detail' }, ` v${event.version}`) : null),
      h('td', null, timeOf(event.created_at)),
      h('td', null, h('pre', { class: 'json' }, jsonText(event.data))),
    );
  }

  /** The newest page at or below `head`. */
  private async loadHistory(head: number): Promise<void> {
    const events = await this.readRange(Math.max(0, head - HISTORY_PAGE), head);
    if (events === undefined) return;
    // Stream events (above head) may already be on top: these go below them.
    for (const event of events.reverse()) this.historyBody.append(this.historyRow(event));
    this.oldestShown = events.at(-1)?.seq ?? head + 1;
    if (events.length === 0 && head === 0) this.oldestShown = 1;
    this.showHistoryStatus();
  }

  private async loadOlder(): Promise<void> {
    if (this.oldestShown === undefined || this.oldestShown <= 1) return;
    this.older.disabled = true;
    const below = this.oldestShown - 1;
    const events = await this.readRange(Math.max(0, below - HISTORY_PAGE), below);
    this.older.disabled = false;
    if (events === undefined) return;
    for (const event of events.reverse()) this.historyBody.append(this.historyRow(event));
    this.oldestShown = events.at(-1)?.seq ?? this.oldestShown;
    this.showHistoryStatus();
  }

  /** Events in (after, upTo], in seq order: pages end early at the server's byte bound, so it reads on until there. */
  private async readRange(after: number, upTo: number): Promise<DurableEvent[] | undefined> {
    if (this.id === undefined || upTo <= after) return [];
    const events: DurableEvent[] = [];
    try {
      let cursor = after;
      while (cursor < upTo) {
        const page = await this.client.listEvents(this.id, { after: cursor, limit: upTo - cursor });
        if (this.closed) return undefined;
        events.push(...page.events.filter((event) => event.seq <= upTo));
        if (page.events.length === 0) break;
        cursor = page.last_seq;
      }
      this.context.ok('History');
      return events;
    } catch (error) {
      if (this.closed) return undefined;
      this.context.error('History', error);
      this.historyStatus.textContent = `The history could not be read: ${describeError(error)}`;
      return undefined;
    }
  }

  private showHistoryStatus(): void {
    const atStart = (this.oldestShown ?? 1) <= 1;
    this.historyStatus.textContent = atStart ? 'Start of the history: every event is shown.' : `Showing from seq ${this.oldestShown}.`;
    this.older.hidden = atStart;
  }

  private onEvent(event: DurableEvent): void {
    this.historyBody.prepend(this.historyRow(event));
    if (event.type.startsWith('queue.')) this.refreshQueue();
    if (event.type.startsWith('message.')) this.refreshMessages();
    if (event.type.startsWith('state.') && this.session?.encoding === 'binary') void this.showBinaryState();
    // Every event moves last_seq; lease and metadata changes are in the record too.
    this.refreshRecord();
  }

  // --- live events and activity ---

  private onLive(type: string, data: unknown): void {
    const text = typeof data === 'string' ? data : typeof (data as { text?: unknown })?.text === 'string' ? (data as { text: string }).text : undefined;
    if (text !== undefined) {
      // Fragments read as running text; the tail is kept.
      const next = (this.running.textContent ?? '') + text;
      this.running.textContent = next.length > RUNNING_TEXT_CHARS ? next.slice(-RUNNING_TEXT_CHARS) : next;
      return;
    }
    this.liveLog.prepend(h('li', null, timeOf(new Date().toISOString()), ' ', h('span', { class: 'type' }, type), ' ', h('code', null, jsonText(data, 2000))));
    while (this.liveLog.childElementCount > LIVE_ROWS) this.liveLog.lastElementChild?.remove();
  }

  private onActivity(activity: { status?: string; detail?: unknown; expired?: boolean; cursor?: number }): void {
    const { status = 'idle', detail, expired } = activity;
    const detailText = detail === undefined ? '' : typeof detail === 'string' ? detail : jsonText(detail, 2000);
    fill(
      this.activityNow,
      'Activity: ',
      h('b', { attrs: { id: 'activity-status' } }, status),
      detailText ? ' — ' : '',
      h('span', { attrs: { id: 'activity-detail' } }, detailText),
      expired ? ' (expired: no refresh within its ttl)' : '',
    );
    if (this.lastActivityStatus !== undefined && status !== this.lastActivityStatus && this.running.textContent) {
      // A new turn of the agent starts a new paragraph of live text.
      this.running.textContent += '\n\n';
    }
    this.lastActivityStatus = status;
    this.activityLog.prepend(h('li', null, timeOf(new Date().toISOString()), ' ', h('b', null, status), detailText ? ` — ${detailText}` : ''));
    while (this.activityLog.childElementCount > LIVE_ROWS) this.activityLog.lastElementChild?.remove();
  }

  // --- queue and messages ---

  private async loadQueue(): Promise<void> {
    if (this.closed || this.id === undefined) return;
    let batches: Batches;
    try {
      batches = (await this.client.listQueue(this.id)).batches;
    } catch (error) {
      if (this.closed) return;
      this.context.error('Queue', error);
      fill(this.queue, h('p', { class: 'problem' }, `The queue could not be read: ${describeError(error)}`));
      return;
    }
    if (this.closed) return;
    this.context.ok('Queue');
    if (batches.length === 0) return fill(this.queue, h('p', { class: 'hint' }, 'No queued batches.'));
    fill(
      this.queue,
      h(
        'table',
        null,
        h('thead', null, h('tr', null, h('th', null, 'batch'), h('th', null, 'status'), h('th', null, 'created'), h('th', null, 'items'))),
        h(
          'tbody',
          null,
          ...batches.map((batch) =>
            h('tr', null, h('td', { class: 'id' }, batch.batch_id), h('td', null, batch.status), h('td', null, timeOf(batch.created_at)), h('td', null, h('pre', { class: 'json' }, jsonText(batch.items, 4000, 2)))),
          ),
        ),
      ),
    );
  }

  private async loadMessages(): Promise<void> {
    if (this.closed || this.id === undefined) return;
    let messages: Messages;
    try {
      messages = (await this.client.listMessages(this.id, { order: 'desc', limit: 100 })).messages;
    } catch (error) {
      if (this.closed) return;
      this.context.error('Messages', error);
      fill(this.messages, h('p', { class: 'problem' }, `The messages could not be read: ${describeError(error)}`));
      return;
    }
    if (this.closed) return;
    this.context.ok('Messages');
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
