/** The protocol every bench worker speaks with the orchestrator (see runWorker in ../lib.ts). */
export function serve<I, O>(work: (input: I, signal: { on(type: string, fn: (message: any) => void): void }) => Promise<O>): void {
  const handlers = new Map<string, (message: any) => void>();
  process.on('message', (message: any) => {
    if (message?.type === 'start') {
      work(message.input as I, { on: (type, fn) => handlers.set(type, fn) }).then(
        (value) => {
          process.send?.({ type: 'result', value }, () => process.exit(0));
        },
        (error: unknown) => {
          process.send?.({ type: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) }, () =>
            process.exit(1),
          );
        },
      );
      return;
    }
    handlers.get(message?.type)?.(message);
  });
}

export const report = (message: Record<string, unknown>) => process.send?.(message);
