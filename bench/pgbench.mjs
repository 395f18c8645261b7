// The database ceiling: pgbench running one conditional UPDATE … RETURNING per commit.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const UPDATE = 'UPDATE bench_counters SET used = used + 1 WHERE id = :id AND used + 1 <= lim RETURNING used;';

/** The table and pgbench's two scripts, written in `dir` (the run's temporary directory, removed when it ends). */
export function preparePgbench(psql, dir) {
  psql(`DROP TABLE IF EXISTS bench_counters;
    CREATE TABLE bench_counters (id int PRIMARY KEY, used bigint NOT NULL DEFAULT 0, lim bigint NOT NULL);
    INSERT INTO bench_counters (id, lim) SELECT g, 1000000000000 FROM generate_series(1, 1000) g;
    VACUUM ANALYZE bench_counters;`);
  const hot = join(dir, 'hot.sql');
  const spread = join(dir, 'spread.sql');
  writeFileSync(hot, `\\set id 1\n${UPDATE}\n`);
  writeFileSync(spread, `\\set id random(1, 1000)\n${UPDATE}\n`);
  return { hot, spread };
}

/** Transactions per second of one pgbench run (each transaction is one statement and one commit). */
export function runPgbench(url, script, clients, seconds) {
  const out = execFileSync('pgbench', ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds), '-f', script, url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (!tps) throw new Error(`pgbench printed no tps:\n${out}`);
  return Number(tps[1]);
}
