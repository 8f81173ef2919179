/**
 * Runs in the browser page of test/browser/react.test.ts: the React bindings,
 * bundled by esbuild with React's development build (so StrictMode mounts
 * twice), driven by the test through `window.harness`. Every committed render
 * of a hook is logged with the id its component was given, so a test can see
 * whether any render ever showed another session's data.
 */
import { StrictMode, useEffect, useLayoutEffect, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { createClient } from '../../client/src/index.js';
import { SessionSyncProvider, useSession, useSessions, useSessionState } from '../../client/src/react.js';

/** What one committed render of a hook showed. */
interface Shown {
  hook: 'state' | 'session' | 'sessions';
  /** The id the component was rendered with. */
  id: string | null;
  status: string;
  /** The session whose data it showed: `name` of the state, the record's id, `session` of each event's data. */
  from: (string | null)[];
  value: unknown;
}

const log: Shown[] = [];
const effects = { mounts: 0, unmounts: 0 };
let root: Root | undefined;
let setIds: ((ids: Ids) => void) | undefined;

interface Ids {
  state?: string;
  session?: string;
  sessions?: boolean;
}

function useLogged(entry: Shown): void {
  // After each commit: what a user saw, not renders React threw away.
  useLayoutEffect(() => void log.push(entry));
  // StrictMode in development runs this twice (mount, unmount, mount): counted to prove the double mount happened.
  useEffect(() => {
    effects.mounts += 1;
    return () => void (effects.unmounts += 1);
  }, []);
}

const errorOf = (error: { code: string; detail: string } | undefined) => (error ? { code: error.code, detail: error.detail } : undefined);

function StateView({ id }: { id: string }) {
  const snapshot = useSessionState<{ name: string; count: number }>(id);
  const { status, version, state, error } = snapshot;
  useLogged({ hook: 'state', id, status, from: [state?.name ?? null], value: { version, state, error: errorOf(error) } });
  return (
    <p>
      {status} v{version} {JSON.stringify(state)}
    </p>
  );
}

function SessionView({ id }: { id: string }) {
  const { status, session, lease, activity, events, lastSeq, liveText, liveEvents, error } = useSession(id, { keepEvents: 5 });
  const from = [session?.id ?? null, ...events.map((event) => ((event.data as { session?: string } | null)?.session ?? null))];
  const value = { session: session && { id: session.id, last_seq: session.last_seq }, lease, activity, events: events.map((e) => ({ seq: e.seq, type: e.type, data: e.data })), lastSeq, liveText, liveEvents, error: errorOf(error) };
  useLogged({ hook: 'session', id, status, from, value });
  return <pre>{liveText}</pre>;
}

function ListView() {
  const { status, sessions, error } = useSessions({ limit: 100 });
  useLogged({ hook: 'sessions', id: null, status, from: [], value: { ids: sessions.map((s) => s.id), sessions: sessions.map((s) => ({ id: s.id, activity: s.activity, last_seq: s.last_seq, message_count: s.message_count })), error: errorOf(error) } });
  return <ul>{sessions.map((s) => <li key={s.id}>{s.id}</li>)}</ul>;
}

function Scene({ initial }: { initial: Ids }) {
  const [ids, set] = useState(initial);
  setIds = set;
  return (
    <>
      {ids.state !== undefined && <StateView id={ids.state} />}
      {ids.session !== undefined && <SessionView id={ids.session} />}
      {ids.sessions && <ListView />}
    </>
  );
}

const harness = {
  mount(baseUrl: string, ids: Ids, strict: boolean): void {
    log.length = 0;
    effects.mounts = 0;
    effects.unmounts = 0;
    const client = createClient({ baseUrl, retry: { attempts: 30, baseDelayMs: 5, maxDelayMs: 100 } });
    const element = document.getElementById('root');
    root = createRoot(element!);
    const scene = (
      <SessionSyncProvider client={client}>
        <Scene initial={ids} />
      </SessionSyncProvider>
    );
    root.render(strict ? <StrictMode>{scene}</StrictMode> : scene);
  },
  show(ids: Ids): void {
    setIds?.(ids);
  },
  unmount(): void {
    root?.unmount();
    root = undefined;
  },
  /** The log since the last call (and the latest entry of each hook, kept), and the effect counts. */
  take(): { log: Shown[]; effects: typeof effects } {
    return { log: log.splice(0), effects: { ...effects } };
  },
};

(globalThis as unknown as { harness: typeof harness }).harness = harness;
