import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { onConnectionClose, onResponseGone } from '../../src/stream/connection-close.js';

/**
 * Requests waiting on one connection (a client pipelines as many as it likes)
 * hear its close through one listener on the socket, and a wait that ended
 * leaves nothing behind on a connection that lives on (keep-alive).
 * test/http/streams-attacks.test.ts has the same over real sockets.
 */
class FakeSocket extends EventEmitter {
  destroyed = false;
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
  get socket(): Socket {
    return this as unknown as Socket;
  }
}

class FakeResponse extends EventEmitter {
  constructor(readonly req: { socket: Socket }) {
    super();
  }
  get res(): ServerResponse {
    return this as unknown as ServerResponse;
  }
}

describe('onConnectionClose', () => {
  it('hundreds of waits on one connection take one close listener, and each hears the close once', () => {
    const connection = new FakeSocket();
    const heard = Array.from({ length: 300 }, () => vi.fn());
    for (const listener of heard) onConnectionClose(connection.socket, listener);
    expect(connection.listenerCount('close')).toBe(1);
    connection.close();
    connection.emit('close');
    expect(heard.map((listener) => listener.mock.calls.length)).toEqual(heard.map(() => 1));
  });

  it('a wait stopped is not called, and ended waits pile up nowhere while the connection lives on', () => {
    const connection = new FakeSocket();
    const ended = vi.fn();
    for (let i = 0; i < 1000; i++) onConnectionClose(connection.socket, ended)();
    const waiting = vi.fn();
    onConnectionClose(connection.socket, waiting);
    expect(connection.listenerCount('close')).toBe(1);
    connection.close();
    expect(ended).not.toHaveBeenCalled();
    expect(waiting).toHaveBeenCalledOnce();
  });

  it('the same function waiting twice is two waits, each stopped on its own', () => {
    const connection = new FakeSocket();
    const listener = vi.fn();
    const stopFirst = onConnectionClose(connection.socket, listener);
    onConnectionClose(connection.socket, listener);
    stopFirst();
    connection.close();
    expect(listener).toHaveBeenCalledOnce();
  });

  it('a connection already gone calls at once and takes no listener', () => {
    const gone = new FakeSocket();
    gone.destroyed = true;
    const listener = vi.fn();
    onConnectionClose(gone.socket, listener);
    expect(listener).toHaveBeenCalledOnce();
    expect(gone.listenerCount('close')).toBe(0);
  });
});

describe('onResponseGone', () => {
  it('hears its response close or its connection close, whichever comes first, once, and then listens to neither', () => {
    for (const first of ['response', 'connection'] as const) {
      const connection = new FakeSocket();
      const response = new FakeResponse({ socket: connection.socket });
      const listener = vi.fn();
      onResponseGone(response.res, listener);
      if (first === 'response') response.emit('close');
      else connection.close();
      expect(listener, first).toHaveBeenCalledOnce();
      expect(response.listenerCount('close'), first).toBe(0);
      response.emit('close');
      connection.close();
      expect(listener, first).toHaveBeenCalledOnce();
    }
  });

  it('stopped, it hears neither', () => {
    const connection = new FakeSocket();
    const response = new FakeResponse({ socket: connection.socket });
    const listener = vi.fn();
    onResponseGone(response.res, listener)();
    expect(response.listenerCount('close')).toBe(0);
    response.emit('close');
    connection.close();
    expect(listener).not.toHaveBeenCalled();
  });

  it('on a connection already gone, it is called at once', () => {
    const connection = new FakeSocket();
    connection.destroyed = true;
    const response = new FakeResponse({ socket: connection.socket });
    const listener = vi.fn();
    onResponseGone(response.res, listener);
    expect(listener).toHaveBeenCalledOnce();
    expect(response.listenerCount('close')).toBe(0);
  });
});
