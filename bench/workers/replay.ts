// Reads a session's whole history once: over one SSE stream, or straight from Postgres as the baseline.
import postgres from 'postgres';
import { openStream } from './sse.js';
import { serve } from './worker.js';

interface Input {
  mode: 'sse' | 'postgres';
  url: string;
  session: string;
  dbUrl: string;
  pageSize: number;
}

serve<Input, { events: number; seconds: number }>(async ({ mode, url, session, dbUrl, pageSize }) => {
  const start = performance.now();
  let events = 0;
  if (mode === 'sse') {
    const stream = openStream(`${url}/v1/sessions/${session}/stream?live=false`, (message) => {
      if (message.id !== undefined) events++;
    });
    await stream.ended;
  } else {
    const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
    const [row] = await sql`select sid from sessions where id = ${session}`;
    for (let after = 0; ; ) {
      const rows = await sql`
        select seq, type, data::text as data, version, created_at from events
        where session_sid = ${row?.sid} and seq > ${after} order by seq limit ${pageSize}`;
      if (rows.length === 0) break;
      events += rows.length;
      after = Number(rows[rows.length - 1]?.seq);
    }
    await sql.end();
  }
  return { events, seconds: (performance.now() - start) / 1000 };
});
