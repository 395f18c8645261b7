// The naive baseline, written the way the seed reports' backends do it: verify the JWT
// on every call, SELECT the counter, then UPDATE it, one transaction per request.
// It over-admits under concurrency because nothing makes check-and-increment atomic.
import Fastify from 'fastify';
import postgres from 'postgres';
import { jwtVerify } from 'jose';
import { serveWorkers } from './cluster.mjs';

const [url, secretText, portText] = process.argv.slice(2);
const secret = new TextEncoder().encode(secretText);
const sql = postgres(url, { max: 20, onnotice: () => undefined });
const app = Fastify({ logger: false });

app.post('/authorize', async (request, reply) => {
  const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
  let tenant;
  try {
    tenant = (await jwtVerify(token, secret, { algorithms: ['HS256'] })).payload.tenant_id;
  } catch {
    return reply.code(401).send({ allowed: false, code: 'UNAUTHENTICATED' });
  }
  const allowed = await sql.begin(async (tx) => {
    const [row] = await tx`SELECT used, lim FROM naive_usage WHERE tenant_id = ${tenant}`;
    if (!row || Number(row.used) + 1 > Number(row.lim)) return false;
    await tx`UPDATE naive_usage SET used = ${Number(row.used) + 1} WHERE tenant_id = ${tenant}`;
    await tx`INSERT INTO naive_runs (tenant_id) VALUES (${tenant})`;
    return true;
  });
  return { allowed, code: allowed ? 'OK' : 'LIMIT_EXCEEDED' };
});

await serveWorkers(async () => {
  await app.listen({ host: '127.0.0.1', port: Number(portText ?? 0) });
  return app.server.address().port;
});
