import type { FastifyInstance, RouteHandlerMethod } from 'fastify';

/**
 * Route handlers still running. A shutdown closes the pool only after them.
 *
 * The server's close waits for connections, not for handlers, and a handler
 * can outlive its connection: its client left (a page closed, a proxy in
 * front aborted) while it waited for a query or its group's commit. Closed
 * under it, the pool refuses its next query (postgres.js: CONNECTION_ENDED)
 * and the request failed as a 500 in the log; its write may have committed
 * or not (seen in CI: the chat example's page closed a second before Ctrl-C).
 */
export class HandlersInFlight {
  private running = 0;
  private idle: (() => void) | undefined;

  /** Every route's handler, counted while the promise it returns is pending (a synchronous one has already ended). */
  register(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      route.handler = this.track(route.handler);
    });
  }

  private track(handler: RouteHandlerMethod): RouteHandlerMethod {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper keeps fastify's `this` for the handler
    const handlers = this;
    return function tracked(this: FastifyInstance, request, reply) {
      const result: unknown = handler.call(this, request, reply);
      if (isThenable(result)) {
        handlers.running++;
        const ended = () => handlers.ended();
        result.then(ended, ended);
      }
      return result as ReturnType<RouteHandlerMethod>;
    } as RouteHandlerMethod;
  }

  private ended(): void {
    if (--this.running === 0) this.idle?.();
  }

  /** Resolves once no handler runs, or after `timeoutMs`; the handlers still running then. */
  async settled(timeoutMs: number): Promise<number> {
    if (this.running === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      timer = setTimeout(resolve, timeoutMs).unref();
    });
    // Stryker disable next-line CallExpression: the timer is unref'd and would only resolve a promise already resolved
    clearTimeout(timer);
    this.idle = undefined;
    return this.running;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
