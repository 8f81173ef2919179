import net from 'node:net';

/** A small seeded PRNG (mulberry32), so a run with random cuts can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Bytes of the server's answer still allowed through before a random cut. */
  budget: number;
  /** A request went up on this connection while `loseNextAnswer` was armed: answer bytes it may still pass. */
  loseAnswer: number | undefined;
  /** The connection stays open but nothing more reaches the client (a dead path, not a closed one). */
  frozen: boolean;
}

/**
 * A TCP proxy in front of the server for fault tests: it cuts connections at
 * random moments (after a random number of answer bytes), drops the answer of
 * one request after forwarding the request, or cuts everything at once.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private readonly armedLoss: number[] = [];
  private chaos: { random: () => number; maxBytes: number } | undefined;
  /** Connections cut by the proxy so far. */
  cuts = 0;
  /** Connections accepted so far. */
  connections = 0;
  /** Answers dropped after their request was forwarded. */
  lostAnswers = 0;
  port = 0;

  constructor(private targetPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Points new connections at another port (a restarted server). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** From now on, cut each connection after a random 1..maxBytes bytes of answer (seeded). */
  cutRandomly(seed: number, maxBytes: number): void {
    this.chaos = { random: seededRandom(seed), maxBytes };
    for (const pair of this.pairs) pair.budget = this.nextBudget();
  }

  calm(): void {
    this.chaos = undefined;
    for (const pair of this.pairs) pair.budget = Infinity;
  }

  /**
   * The next request to go up is forwarded, and the connection is cut as its
   * answer comes back: before its first byte, or after `afterBytes` of it
   * (headers and part of the body).
   */
  loseNextAnswer(afterBytes = 0): void {
    this.armedLoss.push(afterBytes);
  }

  /** Open connections stay open but pass nothing more to the client; new connections work. */
  freezeAll(): void {
    for (const pair of this.pairs) pair.frozen = true;
  }

  cutAll(): void {
    for (const pair of [...this.pairs]) this.cut(pair);
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private nextBudget(): number {
    return this.chaos ? 1 + Math.floor(this.chaos.random() * this.chaos.maxBytes) : Infinity;
  }

  private cut(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    this.cuts += 1;
    pair.client.destroy();
    pair.upstream.destroy();
  }

  private accept(client: net.Socket): void {
    this.connections += 1;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, budget: this.nextBudget(), loseAnswer: undefined, frozen: false };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk) => {
      if (this.armedLoss.length > 0 && pair.loseAnswer === undefined) pair.loseAnswer = this.armedLoss.shift();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (pair.frozen) return;
      if (pair.loseAnswer !== undefined) {
        if (chunk.length > pair.loseAnswer) {
          client.write(chunk.subarray(0, pair.loseAnswer));
          this.lostAnswers += 1;
          return this.cut(pair);
        }
        pair.loseAnswer -= chunk.length;
      }
      if (chunk.length >= pair.budget) {
        client.write(chunk.subarray(0, pair.budget));
        return this.cut(pair);
      }
      pair.budget -= chunk.length;
      client.write(chunk);
    });
  }
}
