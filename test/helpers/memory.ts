import { readFile, writeFile } from 'node:fs/promises';

/** A process's resident memory now, and its peak since the last `resetPeak` (Linux: /proc/<pid>/status VmRSS and VmHWM). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Writing 5 to clear_refs resets the peak (VmHWM) to the current resident size. */
export function resetPeak(pid: number): Promise<void> {
  return writeFile(`/proc/${pid}/clear_refs`, '5');
}
