/**
 * @session-sync/client/react: React bindings (React 18 or later, a peer
 * dependency the core entry never imports). Each hook is
 * `useSyncExternalStore` over one of the client's stores (`watchState`,
 * `watchSession`, `watchSessions`); the contract is docs/client.md, "React".
 *
 * Nothing here runs at import, and nothing connects during a render: a store
 * opens when React subscribes (in the browser, after the commit), so a server
 * render (`renderToString`) opens no connection and shows each hook's initial
 * snapshot, which is also what hydration starts from.
 */
import { createContext, createElement, type ReactElement, type ReactNode, useCallback, useContext, useSyncExternalStore } from 'react';
import type { SessionSyncClient } from './index.js';
import type { StateSnapshot } from './watch-state.js';
import { INITIAL_SESSION_SNAPSHOT, type SessionSnapshot, type WatchSessionOptions } from './watch-session.js';
import { INITIAL_SESSION_LIST_SNAPSHOT, type SessionListSnapshot, type WatchSessionsOptions } from './watch-sessions.js';

const ClientContext = createContext<SessionSyncClient | null>(null);

export interface SessionSyncProviderProps {
  client: SessionSyncClient;
  children?: ReactNode;
}

/** Gives the hooks below it their client. One per server is enough; hooks under one client share streams. */
export function SessionSyncProvider({ client, children }: SessionSyncProviderProps): ReactElement {
  return createElement(ClientContext.Provider, { value: client }, children);
}

/** The provider's client, for writes (`enqueue`, `updateSession`, ...) next to the hooks' reads. */
export function useSessionSyncClient(): SessionSyncClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('session-sync hooks need a <SessionSyncProvider client={...}> above them');
  return client;
}

/** The state mirror of session `id` (`watchState`): `{status, version, seq, state, activity, error?}`. */
export function useSessionState<S = unknown>(id: string): StateSnapshot<S> {
  return useStore(`state\u0000${id}`, (client) => client.watchState<S>(id), INITIAL_STATE as StateSnapshot<S>);
}

export type UseSessionOptions = Omit<WatchSessionOptions, 'signal'>;

/**
 * Session `id` as a dashboard shows it (`watchSession`): status, record,
 * lease, activity, the newest durable events, the running text of the reply
 * in progress and the newest other live events.
 */
export function useSession(id: string, options: UseSessionOptions = {}): SessionSnapshot {
  const { keepEvents, keepLive, tokenType, liveTextEndsOn } = options;
  const key = `session\u0000${JSON.stringify([id, keepEvents, keepLive, tokenType, liveTextEndsOn])}`;
  return useStore(key, (client) => client.watchSession(id, { keepEvents, keepLive, tokenType, liveTextEndsOn }), INITIAL_SESSION_SNAPSHOT);
}

export type UseSessionsOptions = Omit<WatchSessionsOptions, 'signal'>;

/** The newest sessions as a live list (`watchSessions`): `{status, sessions, error?}`. */
export function useSessions(options: UseSessionsOptions = {}): SessionListSnapshot {
  const { limit, parentId } = options;
  const key = `sessions\u0000${JSON.stringify([limit, parentId])}`;
  return useStore(key, (client) => client.watchSessions({ limit, parentId }), INITIAL_SESSION_LIST_SNAPSHOT);
}

const INITIAL_STATE: StateSnapshot<unknown> = Object.freeze({ status: 'loading', version: 0, seq: 0, state: null, activity: null });

interface Store<T> {
  getSnapshot(): T;
  subscribe(listener: () => void): () => void;
  close(): void;
}

interface Entry {
  store: Store<unknown>;
  users: number;
}

/** Open stores per client, by key: hooks asking for the same thing share one store, so one stream. */
const registries = new WeakMap<SessionSyncClient, Map<string, Entry>>();

function registryOf(client: SessionSyncClient): Map<string, Entry> {
  let registry = registries.get(client);
  if (!registry) registries.set(client, (registry = new Map()));
  return registry;
}

/**
 * One store for `key` while any hook uses it. The last user's release closes
 * it a task later, not at once: StrictMode's unmount-and-mount, or a component
 * that moves in the tree, takes it back meanwhile, and keeps its stream and
 * what it shows instead of starting over.
 */
function useStore<T>(key: string, open: (client: SessionSyncClient) => Store<T>, initial: T): T {
  const client = useSessionSyncClient();
  const registry = registryOf(client);
  const subscribe = useCallback(
    (onChange: () => void) => {
      let entry = registry.get(key);
      if (!entry) registry.set(key, (entry = { store: open(client), users: 0 }));
      entry.users += 1;
      const held = entry;
      const unsubscribe = held.store.subscribe(onChange);
      return () => {
        unsubscribe();
        held.users -= 1;
        if (held.users > 0) return;
        setTimeout(() => {
          // Taken back meanwhile: it stays open for its new users. (Already closed by an earlier timer: the key may be another store's now.)
          if (held.users > 0 || registry.get(key) !== held) return;
          registry.delete(key);
          held.store.close();
        });
      };
    },
    // `open` is made anew each render; the key says everything it opens, so it is no dependency.
    [client, registry, key],
  );
  // Only the store of this key is read: after `id` changes, the previous session's data is never returned under the new one.
  const getSnapshot = useCallback(() => (registry.get(key)?.store.getSnapshot() as T | undefined) ?? initial, [registry, key, initial]);
  const getServerSnapshot = useCallback(() => initial, [initial]);
  return useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);
}
