// The HTTP ceilings: the same Fastify, no auth, no database. `GET /hello` is the ceiling
// the issue names; `POST /decision` is a call shaped like authorize (a JSON body parsed, an
// answer as large as a real decision), so the gap between the two is what HTTP alone costs.
import Fastify from 'fastify';
import { serveWorkers } from './cluster.mjs';

// A decision as /v1/authorize answers it, fixed.
const DECISION = {
  allowed: true, code: 'OK', decisionId: 'dec_01M82BR5KQJG9GSH4RZARNS5H2',
  tenant: { id: 'tnt_01M82BQWT9RMY7GEWCS9RJHE0Y', plan: 'enterprise', enterprise: true },
  principal: { type: 'api_key', id: 'key_01M82BQX5HP9E2TGKVR2SX50KV', userId: null, role: null },
  operation: { name: 'clustering', module: 'planner', credits: 10 },
  limits: [{ meter: 'runs', used: 41, limit: 1000000000, remaining: 999999959, resetsAt: '2026-12-22T19:29:16.141Z' }],
  credits: { balance: 1000000000, reserved: 410, available: 999999590 },
  reservation: { id: 'res_01M82BR5KSAMJ5KW2CFHG9N7JY', credits: 10, expiresAt: '2026-11-22T19:39:25.113Z' },
  bypass: null, route: { provider: 'default' },
};

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
app.post('/decision', async (request) => (typeof request.body === 'object' ? DECISION : {}));
await serveWorkers(async () => {
  await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
  return app.server.address().port;
});
