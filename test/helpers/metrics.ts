import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';

/**
 * One sample of a /metrics text: `name` as it is printed, labels included (`x_total{sweep="a"}`). A sample not
 * printed fails the test, so a renamed metric cannot read as "unchanged"; but a labelled counter is printed only once
 * its label set has counted something, so a caller waiting for one to grow passes what it reads before (`absent`).
 */
export function sampleOf(text: string, name: string, absent?: number): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined && absent !== undefined) return absent;
  expect(line, `${name} on /metrics`).toBeDefined();
  return Number(line?.slice(name.length + 1));
}

/** One sample read from the app's GET /metrics now. */
export async function metric(app: FastifyInstance, name: string, absent?: number): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode, res.body).toBe(200);
  return sampleOf(res.body, name, absent);
}
