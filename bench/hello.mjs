// The HTTP ceiling: the same Fastify, one trivial route, no auth, no database.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
process.send?.({ port: app.server.address().port });
