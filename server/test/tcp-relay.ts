import { createConnection, createServer, type Socket } from 'node:net';

export interface CuttableRelay {
  /** `target` with its host and port replaced by the relay's. */
  url: string;
  /** Any URL of the same server, through the relay (the same path, user and options). */
  via(url: string): string;
  /** Closes every connection and stops accepting: the server is gone. */
  cut(): Promise<void>;
  /**
   * Closes every connection and holds new ones open in silence: a server host that drops
   * packets, where nothing is refused and nothing answers.
   */
  hang(): void;
  /** Accepts (or relays) again on the same address: the server is back. */
  restore(): Promise<void>;
  /** Keeps what the server sends from reaching the clients (it waits, in order) until release(). */
  hold(): void;
  release(): void;
}

/**
 * A TCP relay to a real server (Redis, PostgreSQL) that can be cut and restored on the
 * same address: the server going away under a running Tollgate, and coming back.
 */
export async function cuttableRelay(target: string): Promise<CuttableRelay> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let silent = false;
  let held: [Socket, Buffer][] | undefined;
  const relay = createServer((client) => {
    if (silent) {
      sockets.add(client.on('error', () => undefined).on('close', () => sockets.delete(client)));
      return;
    }
    const upstream = createConnection(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => { if (held) held.push([client, chunk]); else client.write(chunk); });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = relay.address() as { port: number };
  const via = (url: string) => {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(relayPort);
    return parsed.toString();
  };
  return {
    url: via(target),
    via,
    cut: async () => {
      const closed = new Promise((resolve) => relay.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    hang: () => {
      silent = true;
      for (const s of sockets) s.destroy();
    },
    hold: () => { held ??= []; },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      for (const [client, chunk] of waiting) if (!client.destroyed) client.write(chunk);
    },
    restore: async () => {
      // The connections held in silence end (their clients dial again); relayed ones stay.
      if (silent) for (const s of sockets) s.destroy();
      silent = false;
      if (!relay.listening) await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
    },
  };
}
