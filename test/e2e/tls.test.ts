import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { type CertificateExtension, generate, type SubjectAltNameEntry } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgresHandle, freePort } from '../../src/db/embedded.js';
import { startTestPostgres } from '../helpers/postgres.js';
import { spawnServer, waitServerReady } from '../helpers/server-process.js';

// A PostgreSQL of its own serving a certificate this test makes: a CA, and a
// server certificate it signs for localhost. DATABASE_URL names the host
// (verify-full checks the name; postgres.js passes no name for an IP address,
// and Node then checks the certificate against "localhost").
let root: string;
let pg: EmbeddedPostgresHandle;
let caFile: string;
let otherCaFile: string;
let admin: postgres.Sql;

const days = (n: number) => new Date(Date.now() + n * 86_400_000);

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'session-sync-tls-'));
  await chmod(root, 0o755);
  pg = await startTestPostgres({ dataDir: path.join(root, 'pg'), database: 'tls' });
  const caExtensions: CertificateExtension[] = [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ];
  const ca = await generate([{ name: 'commonName', value: 'session-sync test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: days(2),
    extensions: caExtensions,
  });
  const otherCa = await generate([{ name: 'commonName', value: 'someone else' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: days(2),
    extensions: caExtensions,
  });
  const serverCert = (altNames: SubjectAltNameEntry[]) =>
    generate([{ name: 'commonName', value: 'session-sync test server' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notAfterDate: days(2),
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames },
      ],
    });
  const server = await serverCert([{ type: 2, value: 'localhost' }]);
  const elsewhere = await serverCert([{ type: 2, value: 'db.example.internal' }]);
  caFile = path.join(root, 'ca.pem');
  otherCaFile = path.join(root, 'other-ca.pem');
  await writeFile(caFile, ca.cert);
  await writeFile(otherCaFile, otherCa.cert);
  // PostgreSQL reads its key as the user it runs as and refuses a key others can read.
  for (const [name, pem] of [
    ['server', server],
    ['elsewhere', elsewhere],
  ] as const) {
    await writeFile(path.join(root, `${name}.crt`), pem.cert, { mode: 0o644 });
    await writeFile(path.join(root, `${name}.key`), pem.private, { mode: 0o600 });
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres', path.join(root, `${name}.key`)]);
  }
  admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await serveCertificate('server');
  await admin.unsafe(`alter system set ssl = on`);
  await admin`select pg_reload_conf()`;
}, 120_000);
afterAll(async () => {
  await admin?.end();
  await pg?.stop();
  await rm(root, { recursive: true, force: true });
});

/** New connections get this certificate (ssl settings take effect on reload). */
async function serveCertificate(name: 'server' | 'elsewhere'): Promise<void> {
  await admin.unsafe(`alter system set ssl_cert_file = '${path.join(root, `${name}.crt`)}'`);
  await admin.unsafe(`alter system set ssl_key_file = '${path.join(root, `${name}.key`)}'`);
  await admin`select pg_reload_conf()`;
}

/** Runs the server with DATABASE_URL?sslmode=..., writes through it, and reports how its connections are secured. */
/** The server's URL by host name, with an sslmode. */
function urlWith(query: string): string {
  const url = new URL(pg.url);
  url.hostname = 'localhost';
  url.search = query;
  return url.toString();
}

async function serveAndWrite(sslQuery: string, env: Record<string, string> = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawnServer({ PORT: String(port), DATABASE_URL: urlWith(sslQuery), ...env });
  try {
    await waitServerReady(base, server);
    const created = await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(created.status).toBe(201);
    // Every connection the server holds (pool and LISTEN) is encrypted.
    const connections = await admin<{ application_name: string; ssl: boolean }[]>`
      select a.application_name, s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid)
      where a.datname = 'tls' and a.application_name like 'session-sync%' order by 1`;
    return connections;
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

describe('TLS to PostgreSQL (sslmode in DATABASE_URL)', () => {
  it('sslmode=require: encrypted, the certificate is not checked', async () => {
    const connections = await serveAndWrite('sslmode=require');
    expect(connections.map((c) => c.application_name)).toEqual(
      expect.arrayContaining(['session-sync', expect.stringMatching(/^session-sync-listen:/)]),
    );
    expect(connections.every((c) => c.ssl)).toBe(true);
  }, 60_000);

  it('sslmode=verify-full with the CA in NODE_EXTRA_CA_CERTS: encrypted and verified', async () => {
    const connections = await serveAndWrite('sslmode=verify-full', { NODE_EXTRA_CA_CERTS: caFile });
    expect(connections.length).toBeGreaterThanOrEqual(2);
    expect(connections.every((c) => c.ssl)).toBe(true);
  }, 60_000);

  it('sslmode=verify-full refuses a certificate from a CA it does not trust, with one line', async () => {
    const server = spawnServer({
      PORT: '0',
      DATABASE_URL: urlWith('sslmode=verify-full'),
      NODE_EXTRA_CA_CERTS: otherCaFile,
    });
    try {
      expect(await server.exited).toBe(1);
      const lines = server.output().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^session-sync: failed to start: .*(self-signed|unable to verify|local issuer)/i);
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 60_000);

  it('sslmode=verify-full refuses a trusted certificate issued for another host name', async () => {
    await serveCertificate('elsewhere');
    try {
      const server = spawnServer({
        PORT: '0',
        DATABASE_URL: urlWith('sslmode=verify-full'),
        NODE_EXTRA_CA_CERTS: caFile,
      });
      try {
        expect(await server.exited).toBe(1);
        const lines = server.output().trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^session-sync: failed to start: .*(altnames|does not match)/i);
      } finally {
        server.child.kill('SIGKILL');
      }
    } finally {
      await serveCertificate('server');
    }
  }, 60_000);
});
