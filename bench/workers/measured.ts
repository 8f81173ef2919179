import { report } from './worker.js';

/**
 * A load window with a warm-up (JIT, connection pools, Postgres caches) that
 * is not counted. Tells the orchestrator when counting starts and stops
 * (`measuring` / `measured` messages), so it can read the other processes' CPU
 * over exactly the counted window; counts this process's own CPU itself.
 */
export function measured(warmupMs: number, durationMs: number) {
  const start = Date.now() + warmupMs;
  const end = start + durationMs;
  let count = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuAtEnd: NodeJS.CpuUsage | undefined;
  setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    report({ type: 'measuring' });
  }, warmupMs);
  setTimeout(() => {
    cpuAtEnd = process.cpuUsage(cpuAtStart);
    report({ type: 'measured' });
  }, warmupMs + durationMs);
  return {
    // Over once `measured` has been sent, not merely at `end`: a worker whose last requests finish before that
    // timer fires would otherwise send its result first, and the orchestrator would read no CPU for the window.
    over: () => cpuAtEnd !== undefined,
    done: () => {
      const now = Date.now();
      if (now >= start && now < end) count++;
    },
    result: () => {
      const cpu = cpuAtEnd ?? { user: 0, system: 0 };
      return { count, cpuMs: (cpu.user + cpu.system) / 1000 };
    },
  };
}
