import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/*
 * A request that waits for something (a long-poll for an append, a page for
 * room in the row budget, an SSE response for its next frame) stops waiting
 * when its client goes. A client may pipeline any number of such requests on
 * one connection, and Node 22 tells a response queued behind another nothing
 * of the connection's close (Node 24 closes it), so they listen to the socket:
 * all of one socket's through one 'close' listener, however many there are
 * (one listener each made Node warn "11 close listeners added to [Socket]"
 * past ten, and grew with what a client chose to pipeline).
 */

const waiting = new WeakMap<Socket, Set<() => void>>();

/**
 * Calls `listener` once when `socket` closes (at once, if it is destroyed
 * already); the function returned stops listening, and must be called when
 * the wait is over, or the listener stays until the connection closes.
 */
export function onConnectionClose(socket: Socket, listener: () => void): () => void {
  if (socket.destroyed) {
    listener();
    return () => {};
  }
  let listeners = waiting.get(socket);
  if (!listeners) {
    const created = new Set<() => void>();
    listeners = created;
    waiting.set(socket, created);
    socket.once('close', () => {
      waiting.delete(socket);
      for (const each of created) each();
      created.clear();
    });
  }
  // A wrapper of its own: the same function registered twice is two waits, each stopped on its own.
  const entry = () => listener();
  listeners.add(entry);
  const registered = listeners;
  return () => {
    registered.delete(entry);
  };
}

/**
 * Calls `listener` once when `res` closes or its connection does, whichever
 * comes first (a pipelined response queued behind another hears only the
 * latter on Node 22); the function returned stops listening.
 */
export function onResponseGone(res: ServerResponse, listener: () => void): () => void {
  let called = false;
  let stopConnection = () => {};
  const stop = () => {
    res.off('close', gone);
    stopConnection();
  };
  function gone(): void {
    if (called) return;
    called = true;
    stop();
    listener();
  }
  res.once('close', gone);
  // A response made outside a server (a test's double) has no request, so no connection but its own.
  const socket = (res.req as ServerResponse['req'] | undefined)?.socket;
  if (socket) stopConnection = onConnectionClose(socket, gone);
  return stop;
}
