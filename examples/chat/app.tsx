/**
 * The chat page, on the React bindings (`@session-sync/client/react`): the
 * list of chats (`useSessions`); one chat (`useSession`): its transcript, the
 * reply streaming in, what the agent is doing, and an input sent through the
 * session's queue; beside it the agent's state (`useSessionState`) and the
 * session's usage. The page only reads and queues: the worker (worker.ts)
 * answers.
 *
 * All of it is rendered as text by React (nothing here sets HTML), so a
 * message holding markup shows as the characters it is.
 */
import { type Activity, type AnswerOf, createClient, type DurableEvent, EVENT, type SessionSyncError, type WatchStatus } from '@session-sync/client';
import { SessionSyncProvider, useSession, useSessions, useSessionState, useSessionSyncClient } from '@session-sync/client/react';
import { type FormEvent, StrictMode, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import { AGENT, type ChatInput, type ChatState, inputText } from './agent.js';

type Message = AnswerOf<'listMessages'>['messages'][number];

// The page and the API share an origin (serve.ts forwards /v1). An API on another origin must list this one in its CORS_ORIGINS.
const client = createClient({ baseUrl: location.origin });

function App() {
  const id = useHash();
  return (
    <SessionSyncProvider client={client}>
      <ChatList current={id} />
      {/* A key per chat: what a chat holds of its own (the text being typed, the messages read) never shows in another. */}
      {id ? (
        <Chat key={id} id={id} />
      ) : (
        <main className="chat">
          <p className="hint">Pick a chat, or start a new one.</p>
        </main>
      )}
    </SessionSyncProvider>
  );
}

function ChatList({ current }: { current: string }) {
  const { status, sessions, error } = useSessions({ limit: 50 });
  const sessionSync = useSessionSyncClient();
  const [problem, setProblem] = useState('');
  const start = async () => {
    try {
      // Tagged for the worker, which answers this agent's sessions only.
      const session = await sessionSync.createSession({ metadata: { agent: AGENT } });
      location.hash = encodeURIComponent(session.id);
    } catch (failure) {
      setProblem(describe(failure));
    }
  };
  return (
    <nav className="chats">
      <header>
        <h1>Chats</h1>
        <Connection status={status} error={error} />
      </header>
      <button type="button" onClick={start}>
        New chat
      </button>
      {problem && <p className="problem">{problem}</p>}
      <ul>
        {sessions
          .filter((session) => session.metadata.agent === AGENT)
          .map((session) => (
            <li key={session.id} aria-current={session.id === current ? 'page' : undefined}>
              <a href={`#${encodeURIComponent(session.id)}`}>{session.first_user_message ?? 'New chat'}</a>
              <small>
                {session.message_count} messages · {session.activity?.status ?? 'idle'}
              </small>
            </li>
          ))}
      </ul>
    </nav>
  );
}

function Chat({ id }: { id: string }) {
  // The running text ends with the turn's last event, so the reply never leaves the screen: first streaming, then in the transcript.
  const { status, session, lease, activity, events, liveText, error } = useSession(id, { keepEvents: 200, liveTextEndsOn: [EVENT.turnCommitted] });
  const { version, state } = useSessionState<ChatState>(id);
  const { messages, problem } = useMessages(id, events, status === 'live');
  const waiting = useMemo(() => inputsInFlight(events), [events]);
  // The reply's message and the turn's end come in one commit, yet perhaps in two reads of the stream: show the reply once meanwhile.
  const last = messages.at(-1);
  const streaming = liveText !== '' && !(last?.role === 'assistant' && last.content === liveText);

  const transcript = useRef<HTMLOListElement>(null);
  useEffect(() => {
    transcript.current?.scrollTo({ top: transcript.current.scrollHeight });
  }, [messages, waiting, liveText]);

  return (
    <>
      <main className="chat">
        <header>
          <h2>{session?.first_user_message ?? 'New chat'}</h2>
          <Connection status={status} error={error} />
        </header>
        <ol className="transcript" ref={transcript}>
          {problem && <li className="problem">{problem}</li>}
          {messages.map((message) => (
            <li key={message.id} className={`message ${message.role}`}>
              {typeof message.content === 'string' ? message.content : JSON.stringify(message.content)}
            </li>
          ))}
          {waiting.map((input) => (
            <li key={input.batchId} className="message user waiting">
              {input.text}
              <small>{input.taken ? 'the agent has it' : 'queued: waiting for a worker'}</small>
            </li>
          ))}
          {streaming && <li className="message assistant streaming">{liveText}</li>}
        </ol>
        <p className="activity" data-status={activity?.status ?? 'idle'}>
          {describeActivity(activity)}
        </p>
        <Composer id={id} closed={status === 'closed'} />
      </main>
      <aside className="details">
        <h2>State</h2>
        <p className="version">version {version}</p>
        <pre className="state">{state === null ? 'none yet' : JSON.stringify(state, null, 2)}</pre>
        <h2>Usage</h2>
        <dl className="usage">
          <dt>turns</dt>
          <dd>{session?.usage.turns ?? 0}</dd>
          <dt>input tokens</dt>
          <dd>{session?.usage.input_tokens ?? 0}</dd>
          <dt>output tokens</dt>
          <dd>{session?.usage.output_tokens ?? 0}</dd>
          <dt>cost</dt>
          <dd>${(session?.usage.cost_usd ?? 0).toFixed(4)}</dd>
        </dl>
        <h2>Lease</h2>
        <p className="lease">{lease ? `held by ${lease.owner} (fencing token ${lease.fencing_token})` : 'free'}</p>
      </aside>
    </>
  );
}

function Composer({ id, closed }: { id: string; closed: boolean }) {
  const sessionSync = useSessionSyncClient();
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState('');
  const send = async (event: FormEvent) => {
    event.preventDefault();
    setSending(true);
    setProblem('');
    try {
      // Queued, not sent to the agent: it is kept until a worker takes it, also when none is running now.
      const input: ChatInput = { text };
      await sessionSync.enqueue(id, { items: [input] });
      setText('');
    } catch (failure) {
      setProblem(describe(failure));
    } finally {
      setSending(false);
    }
  };
  return (
    <form className="composer" onSubmit={send}>
      <input aria-label="Message" placeholder="Say something to the agent" value={text} onChange={(event) => setText(event.target.value)} />
      <button type="submit" disabled={closed || sending || text.trim() === ''}>
        Send
      </button>
      {problem && <p className="problem">{problem}</p>}
    </form>
  );
}

function Connection({ status, error }: { status: WatchStatus; error?: SessionSyncError }) {
  const words = { loading: 'connecting…', live: 'live', reconnecting: 'reconnecting…', closed: 'closed' }[status];
  return (
    <span className="connection" data-status={status} role="status">
      {error ? `${words}: ${error.detail}` : words}
    </span>
  );
}

/**
 * The conversation: the stored messages (read when the stream is live, again
 * after each reconnect) and those appended since (the stream's
 * message.appended events), each once, in order.
 */
function useMessages(id: string, events: readonly DurableEvent[], live: boolean): { messages: Message[]; problem: string } {
  const sessionSync = useSessionSyncClient();
  const [stored, setStored] = useState<readonly Message[]>([]);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    if (!live) return;
    let current = true;
    sessionSync.listMessages(id, { order: 'desc', limit: 100 }).then(
      (page) => current && (setStored(page.messages), setProblem('')),
      (failure: unknown) => current && setProblem(`earlier messages could not be read: ${describe(failure)}`),
    );
    return () => {
      current = false;
    };
  }, [sessionSync, id, live]);
  const messages = useMemo(() => {
    const byId = new Map(stored.map((message) => [message.id, message]));
    for (const event of events) if (event.type === EVENT.messageAppended) byId.set((event.data as Message).id, event.data as Message);
    return [...byId.values()].sort((a, b) => a.seq - b.seq);
  }, [stored, events]);
  return { messages, problem };
}

interface InFlight {
  batchId: string;
  text: string;
  taken: boolean;
}

/** The inputs queued and not answered yet, by the queue's events: waiting for a worker, or taken by one. */
function inputsInFlight(events: readonly DurableEvent[]): InFlight[] {
  const inputs = new Map<string, InFlight>();
  for (const { type, data } of events) {
    const { batch_id: batchId = '', batch_ids: batchIds = [], items = [] } = data as { batch_id?: string; batch_ids?: string[]; items?: unknown[] };
    if (type === EVENT.queueEnqueued) inputs.set(batchId, { batchId, text: inputText(items), taken: false });
    if (type === EVENT.queueCancelled) inputs.delete(batchId);
    for (const id of batchIds) {
      const input = inputs.get(id);
      if (!input) continue;
      if (type === EVENT.queueCompleted) inputs.delete(id);
      else if (type === EVENT.queueClaimed) inputs.set(id, { ...input, taken: true });
      // A worker that stopped mid-turn: the input is back in the queue.
      else if (type === EVENT.queueExpired || type === EVENT.queueAbandoned) inputs.set(id, { ...input, taken: false });
    }
  }
  return [...inputs.values()];
}

function describeActivity(activity: Activity | null): string {
  // The worker's to say; anything but a string is shown as JSON.
  const detail = activity?.detail === undefined ? '' : typeof activity.detail === 'string' ? activity.detail : JSON.stringify(activity.detail);
  switch (activity?.status ?? 'idle') {
    case 'idle':
      return activity?.expired ? 'idle (the worker stopped without saying so)' : 'idle';
    case 'thinking':
      return 'thinking…';
    case 'tool':
      return `using a tool: ${detail}`;
    case 'writing':
      return 'writing…';
    default:
      return `${activity?.status}${detail ? `: ${detail}` : ''}`;
  }
}

function describe(failure: unknown): string {
  return failure instanceof Error ? failure.message : String(failure);
}

/** The chat shown is the page's hash (`#<session id>`), so a chat has a link and Back works. */
function useHash(): string {
  return useSyncExternalStore(subscribeToHash, () => {
    try {
      return decodeURIComponent(location.hash.slice(1));
    } catch {
      return '';
    }
  });
}
function subscribeToHash(onChange: () => void): () => void {
  addEventListener('hashchange', onChange);
  return () => removeEventListener('hashchange', onChange);
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
