import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/harness.js';
import { AppError } from './errors.js';
import { createLogger, lazyChild } from './logger.js';

describe('the process logger', () => {
  it('redacts secret-bearing fields wherever a logged object has them', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
    logger.info({
      password: 'p-1', mail: { to: 'a@b.c', text: 'token tgp_secret' }, req: { headers: { authorization: 'Bearer eyJ.secret', cookie: 's=1' } },
      err: { message: 'Failed query', params: ['hash'], cause: { params: ['hash-2'] } }, config: { smtpUrl: 'smtp://u:pw@h', auth: { secret: 'hs256-secret' } },
      created: { key: 'tg_secret', accessToken: 'eyJ.a.b', refreshToken: 'tgr_x' },
    }, 'everything');
    const line = JSON.parse(lines[0]!);
    expect(line.mail).toEqual({ to: 'a@b.c', text: '[redacted]' });
    expect(line.err).toMatchObject({ message: 'Failed query', params: '[redacted]', cause: { params: '[redacted]' } });
    for (const secret of ['p-1', 'tgp_secret', 'eyJ.secret', 's=1', 'hash', 'smtp://u:pw@h', 'hs256-secret', 'tg_secret', 'eyJ.a.b', 'tgr_x']) {
      expect(lines[0], secret).not.toContain(secret);
    }
  });
});

describe('a failed statement in the log', () => {
  it('names its query and the database\'s code and constraint, never the parameters nor the rows\' values (the driver\'s detail)', async () => {
    const SECRET = 'sk-live-in-a-failed-statement-7c1e';
    const db = await createTestDatabase();
    let failure: unknown;
    try {
      // A real refusal, of the driver in use: a duplicate key whose values the database quotes in its detail.
      await db.database.db.transaction(async (tx) => {
        await tx.execute(sql`CREATE TEMP TABLE held (value text PRIMARY KEY) ON COMMIT DROP`);
        await tx.execute(sql`INSERT INTO held (value) VALUES (${SECRET}), (${SECRET})`);
      });
    } catch (error) {
      failure = error;
    } finally {
      await db.drop();
    }
    expect(failure).toMatchObject({ query: expect.stringContaining('INSERT INTO held'), params: [SECRET, SECRET] });
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => { lines.push(line); } });
    logger.error({ err: failure }, 'unhandled error');
    // The 503 of an outage carries the driver's error as its cause (db/errors.ts databaseFailure).
    logger.warn({ err: new AppError('DATABASE_BUSY', undefined, undefined, { cause: failure }) }, 'lost to concurrent transactions');
    logger.error(failure as Error);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).not.toContain(SECRET);
    const [direct, wrapped, bare] = lines.map((l) => JSON.parse(l));
    for (const err of [direct.err, wrapped.err.cause, bare.err]) {
      expect(err).toMatchObject({
        message: 'Failed query: INSERT INTO held (value) VALUES ($1), ($2)',
        query: 'INSERT INTO held (value) VALUES ($1), ($2)',
        cause: { code: '23505', constraint: 'held_pkey', table: 'held', message: 'duplicate key value violates unique constraint "held_pkey"' },
      });
      expect(err.stack).toMatch(/^Error: Failed query: INSERT INTO held \(value\) VALUES \(\$1\), \(\$2\)\n\s+at /);
      expect(err).not.toHaveProperty('params');
      expect(err.cause).not.toHaveProperty('detail');
    }
    expect(wrapped.err).toMatchObject({ type: 'AppError', code: 'DATABASE_BUSY' });
    expect([direct.msg, wrapped.msg, bare.msg]).toEqual(['unhandled error', 'lost to concurrent transactions', direct.err.message]);
  });
});

describe('a request\'s logger (lazyChild)', () => {
  const counted = (level: string) => {
    const lines: string[] = [];
    const parent = createLogger(level, { write: (line: string) => { lines.push(line); } });
    let children = 0;
    // Children inherit `child` from their parent (pino's prototype chain): count every call, keep its receiver.
    const child = parent.child;
    parent.child = function (this: typeof parent, ...args: Parameters<typeof child>) { children++; return child.apply(this, args); } as typeof parent.child;
    return { parent, lines, children: () => children };
  };

  it('is made only when a line is logged at an enabled level, and then once', () => {
    const { parent, lines, children } = counted('warn');
    const log = lazyChild(parent, { reqId: 'req_1' }, {});
    log.info({ status: 200 }, 'request');
    log.debug('nothing');
    expect(children()).toBe(0);
    expect(lines).toEqual([]);
    log.warn({ password: 'p-1' }, 'first');
    log.error('second');
    expect(children()).toBe(1);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ reqId: 'req_1', msg: 'first', password: '[redacted]' }),
      expect.objectContaining({ reqId: 'req_1', msg: 'second' }),
    ]);
  });

  it('answers the same level methods to every read, of every request (nothing made per read)', () => {
    const { parent, lines, children } = counted('info');
    const first = lazyChild(parent, { reqId: 'req_4' }, {});
    const second = lazyChild(parent, { reqId: 'req_5' }, {});
    for (const method of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'child'] as const) {
      expect(first[method], method).toBe(first[method]);
      expect(first[method], method).toBe(second[method]);
    }
    expect(children()).toBe(0);
    second.info('from the second');
    first.info('from the first');
    expect(lines.map((l) => JSON.parse(l).reqId)).toEqual(['req_5', 'req_4']);
  });

  it('is the real child for everything else, and at once when it has a level of its own', () => {
    const { parent, lines, children } = counted('info');
    const log = lazyChild(parent, { reqId: 'req_2' }, {});
    expect(log.isLevelEnabled('info')).toBe(true);
    expect(children()).toBe(1);
    log.child({ step: 'inner' }).info('nested');
    expect(JSON.parse(lines[0]!)).toMatchObject({ reqId: 'req_2', step: 'inner', msg: 'nested' });
    expect(children()).toBe(2);
    lazyChild(parent, { reqId: 'req_3' }, { level: 'debug' });
    expect(children()).toBe(3);
  });
});
