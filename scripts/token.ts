// Mints a bearer token: npm run token -- --sessions 'team-a:*' --read --write --ttl 1h [--admin] [--sub name]
import { parseArgs } from 'node:util';
import { mintToken } from '../src/auth/tokens.js';

const USAGE = "usage: npm run token -- --sessions 'team-a:*' [--sessions id ...] [--read] [--write] [--admin] [--ttl 1h] [--sub name]";

function seconds(ttl: string): number {
  const match = /^(\d+)([smhd])?$/.exec(ttl);
  if (!match) throw new Error(`--ttl must look like 90s, 30m, 1h or 7d, got "${ttl}"`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

try {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', multiple: true, default: [] },
      read: { type: 'boolean', default: false },
      write: { type: 'boolean', default: false },
      admin: { type: 'boolean', default: false },
      ttl: { type: 'string', default: '1h' },
      sub: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const secret = process.env.AUTH_SECRET;
  if (!secret || Buffer.byteLength(secret) < 32) throw new Error('set AUTH_SECRET (at least 32 bytes), the same as the server');
  const sessions = values.sessions.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (!values.admin && (sessions.length === 0 || !(values.read || values.write))) {
    throw new Error('grant --sessions and --read and/or --write (or --admin)');
  }
  const token = await mintToken(secret, {
    sub: values.sub,
    sessions,
    read: values.read,
    write: values.write,
    admin: values.admin,
    ttlSeconds: seconds(values.ttl),
  });
  console.log(token);
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(1);
}
