import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP relay to the real Redis that can be cut and restored on the same address: the
 * store going away under a running server, and coming back.
 */
export async function cuttableRedis(target: string): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = createConnection(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = relay.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${relayPort}`,
    cut: async () => {
      const closed = new Promise((resolve) => relay.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: () => new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve)),
  };
}
